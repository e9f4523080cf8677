package control

import (
	"context"
	"sort"
	"time"
)

// activityWindow is how far back the recent activity column looks.
const activityWindow = 180 * 24 * time.Hour

// bookingActions lists what the viewer may do on a booking now (ACC-4).
func bookingActions(tx Tx, now time.Time, u User, b Booking) []Action {
	acts := []Action{}
	if b.Status == StatusConfirmed && !now.Before(b.Start.Add(-b.Policy.RoomOpensBefore)) && now.Before(b.End) {
		acts = append(acts, Action{Name: "join"})
	}
	if b.Status == StatusConfirmed && now.Before(b.Start) {
		switch {
		case u.ID == b.ClientID && !now.After(b.Start.Add(-b.Policy.ClientCancelWindow)):
			acts = append(acts, Action{Name: "cancel", Consequence: "refund", AmountCents: b.PaidCents})
		case u.ID == b.ClientID:
			acts = append(acts, Action{Name: "cancel", Consequence: "charge", AmountCents: b.PaidCents})
		case u.ID == b.ExpertID && b.Kind == KindAppointment:
			acts = append(acts, Action{Name: "cancel", Consequence: "refund", AmountCents: b.PaidCents})
		}
	}
	if u.ID == b.ClientID && tx.Get(bMeta, []byte("claim_of/"+b.ID)) == nil && b.PaidCents > b.RefundedCents {
		claimable := (b.Charged && now.Before(b.ClaimUntil)) ||
			(b.Status == StatusConfirmed && b.Kind == KindAppointment && !now.Before(b.End) && now.Before(b.End.Add(b.Policy.ClaimWindow)))
		if claimable {
			acts = append(acts, Action{Name: "open_claim"})
		}
	}
	return acts
}

func claimActions(now time.Time, u User, c Claim, b Booking) []Action {
	acts := []Action{}
	switch {
	case u.ID == c.ExpertID && c.Status == ClaimOpen:
		acts = append(acts, Action{Name: "respond", AmountCents: b.PaidCents - b.RefundedCents})
	case u.ID == c.ClientID && c.Status == ClaimResponded:
		acts = append(acts, Action{Name: "accept"}, Action{Name: "reject"})
	case u.ID == c.ClientID && c.Status == ClaimOpen && !now.Before(c.OpenedAt.Add(b.Policy.ClaimWindow)):
		acts = append(acts, Action{Name: "reject"})
	case u.Role == RoleOperator && c.Status == ClaimEscalated:
		acts = append(acts, Action{Name: "decide", AmountCents: b.PaidCents - b.RefundedCents})
	}
	return acts
}

// Activity returns the user's recent and upcoming items, latest start
// first, each with the actions allowed right now (ACC-4): appointments,
// registrations, the expert's events, claims and payouts. Operators see the
// escalated claims waiting for them.
func (s *Service) Activity(ctx context.Context, userID string) ([]ActivityItem, error) {
	now := s.clock.Now()
	out := []ActivityItem{}
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, userID)
		if err != nil {
			return err
		}
		name := func(id string) string {
			if v, err := loadUser(tx, id); err == nil {
				return v.Name
			}
			return ""
		}
		from := []byte(u.ID + "/" + ts(now.Add(-activityWindow)))
		err = tx.Scan(bUserItems, from, prefixEnd(u.ID+"/"), func(k, _ []byte) error {
			b, err := loadBooking(tx, string(k[len(u.ID)+1+8:]))
			if err != nil {
				return err
			}
			if b.Status == StatusPaymentFailed {
				return nil
			}
			it := ActivityItem{Type: string(b.Kind), ID: b.ID, Start: b.Start, End: b.End, Status: string(b.Status),
				AmountCents: b.PriceCents, Room: b.Room, Actions: bookingActions(tx, now, u, b)}
			if u.ID == b.ClientID {
				it.Counterpart = name(b.ExpertID)
			} else {
				it.Counterpart = name(b.ClientID)
			}
			it.Title = "Appointment"
			if b.Kind == KindRegistration {
				if e, err := loadEvent(tx, b.EventID); err == nil {
					it.Title = e.Title
				}
			}
			out = append(out, it)
			return nil
		})
		if err != nil {
			return err
		}
		if u.Role == RoleExpert {
			err = tx.Scan(bExpEvents, from, prefixEnd(u.ID+"/"), func(k, _ []byte) error {
				e, err := loadEvent(tx, string(k[len(u.ID)+1+8:]))
				if err != nil {
					return err
				}
				it := ActivityItem{Type: "event", ID: e.ID, Title: e.Title, Start: e.Start, End: e.End,
					Status: string(e.Status), AmountCents: e.PriceCents, Room: e.ID, Actions: []Action{}}
				if e.Status == EventScheduled && !now.Before(e.Start.Add(-e.Policy.RoomOpensBefore)) && now.Before(e.End) {
					it.Actions = append(it.Actions, Action{Name: "join"})
				}
				if e.Status == EventScheduled && now.Before(e.Start) {
					it.Actions = append(it.Actions, Action{Name: "cancel", Consequence: "refund"})
				}
				out = append(out, it)
				return nil
			})
			if err != nil {
				return err
			}
			err = scanPrefix(tx, bExpPay, u.ID+"/", func(k, _ []byte) error {
				var p Payout
				if ok, err := getJSON(tx, bPayouts, string(k[len(u.ID)+1+8:]), &p); err != nil || !ok {
					return err
				}
				status := "sent"
				if p.GatewayID == "" {
					status = "processing"
				}
				out = append(out, ActivityItem{Type: "payout", ID: p.ID, Title: "Payout " + p.RunDate, Start: p.At,
					Status: status, AmountCents: p.AmountCents, Actions: []Action{}})
				return nil
			})
			if err != nil {
				return err
			}
		}
		addClaim := func(id string) error {
			c, err := loadClaim(tx, id)
			if err != nil {
				return err
			}
			b, err := loadBooking(tx, c.BookingID)
			if err != nil {
				return err
			}
			it := ActivityItem{Type: "claim", ID: c.ID, Title: "Claim", Start: c.OpenedAt, Status: string(c.Status),
				AmountCents: b.RefundedCents, Room: b.Room, Actions: claimActions(now, u, c, b)}
			if u.ID == c.ClientID {
				it.Counterpart = name(c.ExpertID)
			} else {
				it.Counterpart = name(c.ClientID)
			}
			out = append(out, it)
			return nil
		}
		if u.Role == RoleOperator {
			return tx.Scan(bOpenEsc, nil, nil, func(k, _ []byte) error { return addClaim(string(k)) })
		}
		return scanPrefix(tx, bUserClaim, u.ID+"/", func(k, _ []byte) error { return addClaim(string(k[len(u.ID)+1:])) })
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, err
}
