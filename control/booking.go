package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Background job kinds in the due queue.
const (
	dueHold       = "hold"        // a payment hold to retry or release
	dueSettle     = "settle"      // an appointment to settle after its end
	dueRelease    = "release"     // a claim window to close (PAY-5)
	dueEventStart = "event_start" // EVT-5 check at start
	dueEventEnd   = "event_end"   // EVT-6 settlement after the end
	dueSession    = "session"     // an expired session to delete
	duePayout     = "payout"      // one expert's payout that the run could not make (expert/day)
	dueReminder   = "reminder"    // a reminder before a booking (bookingID/hours)
	dueReset      = "reset"       // an expired password-reset token to delete
	dueVerify     = "verify"      // an expired e-mail verification token to delete
)

func policyOf(st Settings) Policy {
	return Policy{ClientCancelWindow: st.ClientCancelWindow, ClaimWindow: st.ClaimWindow,
		ExpertPresenceMin: st.ExpertPresenceMin, PlatformShareBasisPts: st.PlatformShareBasisPts,
		RoomOpensBefore: st.RoomOpensBefore, Currency: st.Currency}
}

func userItemKey(userID string, start time.Time, bookingID string) []byte {
	return []byte(userID + "/" + ts(start) + bookingID)
}

// newBooking fills the money fields of a booking from its price and policy.
func newBooking(b Booking) Booking {
	b.PlatformPart, b.ExpertShare = split(b.PriceCents, b.Policy.PlatformShareBasisPts)
	b.Status = StatusPendingPayment
	return b
}

// holdBooking writes a new booking in pending_payment with its indexes. It
// returns the stored bytes, for confirm to recognise the record unchanged.
func holdBooking(tx Tx, st Settings, b Booking, key idem) ([]byte, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", bBookings, b.ID, err)
	}
	if err := tx.Put(bBookings, []byte(b.ID), raw); err != nil {
		return nil, err
	}
	if err := tx.Put(bUserItems, userItemKey(b.ClientID, b.Start, b.ID), nil); err != nil {
		return nil, err
	}
	if err := key.put(tx, b.ID); err != nil {
		return nil, err
	}
	return raw, addDue(tx, b.CreatedAt.Add(st.PaymentHoldTimeout), dueHold, b.ID)
}

// heldBooking is a booking as its hold stored it: the value and its exact
// bytes. A later transaction finding the same bytes in the store has the
// same record and need not decode it again.
type heldBooking struct {
	b   Booking
	raw []byte
}

// loadHeld is loadBooking, without the decoding when the stored record is
// still exactly the one held.
func loadHeld(tx Tx, id string, held heldBooking) (Booking, error) {
	if held.raw != nil && held.b.ID == id && bytes.Equal(tx.Get(bBookings, []byte(id)), held.raw) {
		return held.b, nil
	}
	return loadBooking(tx, id)
}

// Book books a slot for the acting client and charges its price (APT-2..4,
// PAY-1). The slot is held in one transaction, charged outside it, then
// confirmed; a failed charge releases the hold. A repeat with the same
// idempotency key returns the first booking and charges nothing more.
func (s *Service) Book(ctx context.Context, actorID string, req BookRequest) (Booking, error) {
	st := s.Settings()
	now := s.clock.Now()
	if req.SlotID == "" {
		return Booking{}, fieldErr("slot_id", "slot_required", "choose a slot")
	}
	if req.Media != "" {
		if err := validMedia([]MediaKind{req.Media}); err != nil {
			return Booking{}, err
		}
	}
	if len(req.IdempotencyKey) > 200 {
		return Booking{}, fieldErr("idempotency_key", "invalid_idempotency_key", "at most 200 characters")
	}
	id := newID()
	var b Booking
	var raw []byte
	err := s.update(func(tx Tx) error {
		raw = nil
		u, err := actor(tx, actorID, RoleClient)
		if err != nil {
			return err
		}
		key := idem{"book/" + u.ID, req.IdempotencyKey, "slot=" + req.SlotID + " media=" + string(req.Media)}
		if prev, err := key.get(tx); err != nil || prev != "" {
			if err != nil {
				return err
			}
			b, err = loadBooking(tx, prev)
			return err
		}
		sl, err := resolveSlot(tx, req.SlotID)
		if err != nil {
			return err
		}
		if expertClosed(tx, sl.ExpertID) {
			return Errorf(Rule, "expert_closed", "this expert can no longer be booked")
		}
		if !sl.Start.After(now) {
			return &Error{Kind: Rule, Code: "time_in_past", Field: "slot_id", Message: "this slot has already started"}
		}
		media := req.Media
		if media == "" {
			media = sl.Media[0]
		}
		if !slices.Contains(sl.Media, media) {
			return fieldErr("media", "media_not_offered", "this slot does not offer %s", media)
		}
		if err := checkPrice(st, sl.PriceCents, []MediaKind{media}); err != nil {
			return err
		}
		if tx.Get(bSlotBook, []byte(sl.ID)) != nil {
			return Errorf(Conflict, "slot_taken", "this slot has just been booked by someone else")
		}
		taken, err := busy(tx, st, sl.ExpertID, sl.Start, sl.End)
		if err != nil {
			return err
		}
		if taken {
			return Errorf(Conflict, "expert_busy", "the expert is not available at this time any more")
		}
		b = newBooking(Booking{ID: id, Kind: KindAppointment, ExpertID: sl.ExpertID, ClientID: u.ID,
			SlotID: sl.ID, Room: id, Start: sl.Start, End: sl.End, Media: media, PriceCents: sl.PriceCents,
			Policy: policyOf(st), CreatedAt: now})
		if raw, err = holdBooking(tx, st, b, key); err != nil {
			return err
		}
		if err := tx.Put(bUserItems, userItemKey(b.ExpertID, b.Start, b.ID), nil); err != nil {
			return err
		}
		if err := tx.Put(bSlotBook, []byte(sl.ID), []byte(b.ID)); err != nil {
			return err
		}
		return putSched(tx, b.ExpertID, b.Start, b.End, b.ID)
	})
	if err != nil {
		return Booking{}, err
	}
	return s.pay(ctx, heldBooking{b, raw})
}

// pay charges a held booking and confirms it. Charging uses the booking ID
// as idempotency key, so a retry (same request key, or RunDue after a crash)
// never charges twice. held.raw is the booking's stored bytes when the
// caller has just written them, nil otherwise.
func (s *Service) pay(ctx context.Context, held heldBooking) (Booking, error) {
	b := held.b
	switch b.Status {
	case StatusPendingPayment:
	case StatusPaymentFailed:
		return b, Errorf(Rule, "payment_declined", "the payment was declined")
	default:
		return b, nil
	}
	res, err := s.gateway.Charge(ctx, ChargeRequest{Key: "charge_" + b.ID, CustomerID: b.ClientID,
		AmountCents: b.PriceCents, Currency: b.Policy.Currency, Description: string(b.Kind) + " " + b.ID})
	if err != nil {
		if ErrorKind(err) == Internal {
			// Unknown outcome: keep the hold, RunDue retries with the same key.
			return b, Errorf(Unavailable, "payment_unavailable", "the payment could not be completed, try again")
		}
		if ferr := s.failHold(b.ID); ferr != nil {
			return b, ferr
		}
		return b, Errorf(Rule, "payment_declined", "the payment was declined")
	}
	return s.confirm(ctx, held, res.ID)
}

// confirm records the charge into escrow. If the booking can no longer
// take place (event cancelled, expert closed meanwhile) the money goes
// straight back.
func (s *Service) confirm(ctx context.Context, held heldBooking, chargeID string) (Booking, error) {
	bookingID := held.b.ID
	now := s.clock.Now()
	var b Booking
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		var err error
		b, err = loadHeld(tx, bookingID, held)
		if err != nil || b.Status != StatusPendingPayment {
			return err
		}
		b.Status = StatusConfirmed
		b.ChargeID = chargeID
		b.PaidCents = b.PriceCents
		if err := chargeToEscrow(tx, now, &b); err != nil {
			return err
		}
		if err := delDue(tx, b.CreatedAt.Add(s.Settings().PaymentHoldTimeout), dueHold, b.ID); err != nil {
			return err
		}
		dead := ""
		if expertClosed(tx, b.ExpertID) {
			dead = "expert_account_closed"
		}
		if b.Kind == KindRegistration {
			e, err := loadEvent(tx, b.EventID)
			if err != nil {
				return err
			}
			if e.Status != EventScheduled {
				dead = "event_" + string(e.Status)
			}
		} else if err := addDue(tx, b.End, dueSettle, b.ID); err != nil {
			return err
		}
		if dead != "" {
			if err := cancelRefund(tx, now, &fx, &b, RoleOperator, dead); err != nil {
				return err
			}
		}
		return saveBooking(tx, now, b)
	})
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return b, err
}

// failHold releases a hold whose charge was refused.
func (s *Service) failHold(bookingID string) error {
	now := s.clock.Now()
	return s.update(func(tx Tx) error {
		b, err := loadBooking(tx, bookingID)
		if err != nil || b.Status != StatusPendingPayment {
			return err
		}
		b.Status = StatusPaymentFailed
		b.Outcome = "payment_declined"
		if err := freeBooking(tx, &b); err != nil {
			return err
		}
		if err := delDue(tx, b.CreatedAt.Add(s.Settings().PaymentHoldTimeout), dueHold, b.ID); err != nil {
			return err
		}
		return saveBooking(tx, now, b)
	})
}

// freeBooking gives back what a booking occupied: the slot, the expert's
// time, the event seat.
func freeBooking(tx Tx, b *Booking) error {
	if b.Kind == KindRegistration {
		e, err := loadEvent(tx, b.EventID)
		if err != nil {
			return err
		}
		if string(tx.Get(bEventRegs, []byte(e.ID+"/"+b.ClientID))) == b.ID {
			e.Registered--
			if err := tx.Delete(bEventRegs, []byte(e.ID+"/"+b.ClientID)); err != nil {
				return err
			}
			if err := putJSON(tx, bEvents, e.ID, e); err != nil {
				return err
			}
		}
		return nil
	}
	if string(tx.Get(bSlotBook, []byte(b.SlotID))) == b.ID {
		if err := tx.Delete(bSlotBook, []byte(b.SlotID)); err != nil {
			return err
		}
	}
	if err := delDue(tx, b.End, dueSettle, b.ID); err != nil {
		return err
	}
	return delSched(tx, b.ExpertID, b.Start, b.ID)
}

// cancelRefund cancels a confirmed booking with a full refund and frees it.
func cancelRefund(tx Tx, now time.Time, fx *effects, b *Booking, by Role, outcome string) error {
	if b.Status != StatusConfirmed {
		return nil
	}
	b.Status = StatusCancelled
	b.CancelledBy = by
	b.CancelledAt = now
	if err := refundAll(tx, now, fx, b, outcome); err != nil {
		return err
	}
	if err := freeBooking(tx, b); err != nil {
		return err
	}
	return saveBooking(tx, now, *b)
}

// visible reports whether u may see booking b (object-level authorization).
func visible(u User, b Booking) bool {
	return u.Role == RoleOperator || b.ClientID == u.ID || b.ExpertID == u.ID
}

// Booking returns a booking to its client, its expert or an operator;
// anyone else gets NotFound so IDs cannot be probed.
func (s *Service) Booking(ctx context.Context, actorID, bookingID string) (Booking, error) {
	var b Booking
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		b, err = loadBooking(tx, bookingID)
		if err != nil {
			return err
		}
		if !visible(u, b) {
			return Errorf(NotFound, "booking_not_found", "no such booking")
		}
		return nil
	})
	return b, err
}

// Bookings lists the actor's bookings (client: theirs; expert: appointments
// with them) starting in [from, to).
func (s *Service) Bookings(ctx context.Context, actorID string, from, to time.Time) ([]Booking, error) {
	out := []Booking{}
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		return tx.Scan(bUserItems, []byte(u.ID+"/"+ts(from)), []byte(u.ID+"/"+ts(to)), func(k, _ []byte) error {
			b, err := loadBooking(tx, string(k[len(u.ID)+1+8:]))
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// CancelBooking cancels an appointment or an event registration. Expert
// before start: full refund (APT-5). Client at least 48 h before start: full
// refund; later: the full price is charged (APT-6, EVT-8). Cancelling twice
// returns the cancelled booking; idempotencyKey is accepted for symmetry
// with the other money-moving calls.
func (s *Service) CancelBooking(ctx context.Context, actorID, bookingID, idempotencyKey string) (Booking, error) {
	now := s.clock.Now()
	var b Booking
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		b, err = loadBooking(tx, bookingID)
		if err != nil {
			return err
		}
		if !visible(u, b) {
			return Errorf(NotFound, "booking_not_found", "no such booking")
		}
		if b.Status == StatusCancelled {
			return nil
		}
		if b.Status == StatusPendingPayment {
			return Errorf(Conflict, "payment_in_progress", "the payment is still in progress, try again in a moment")
		}
		if b.Status != StatusConfirmed {
			return Errorf(Rule, "booking_not_active", "this booking can no longer be cancelled")
		}
		if !now.Before(b.Start) {
			return Errorf(Rule, "booking_started", "a booking cannot be cancelled once it has started")
		}
		switch {
		case u.Role == RoleOperator:
			return cancelRefund(tx, now, &fx, &b, RoleOperator, "cancelled_by_operator")
		case u.ID == b.ExpertID:
			if b.Kind == KindRegistration {
				return Errorf(Forbidden, "cancel_event_instead", "cancel the whole event to refund its participants")
			}
			return cancelRefund(tx, now, &fx, &b, RoleExpert, "cancelled_by_expert") // APT-5
		}
		if !now.After(b.Start.Add(-b.Policy.ClientCancelWindow)) {
			return cancelRefund(tx, now, &fx, &b, RoleClient, "cancelled_in_time") // APT-6
		}
		// APT-6: a late cancellation is charged in full; the claim window
		// runs from the cancellation (CLM-2).
		b.Status = StatusCancelled
		b.CancelledBy = RoleClient
		b.CancelledAt = now
		if err := settleCharged(tx, now, &b, now, "late_cancellation"); err != nil {
			return err
		}
		if b.Kind == KindRegistration {
			// Remembered so that an event that does not take place
			// refunds late cancellers too (EVT-5, EVT-6, EVT-8).
			if err := tx.Put(bMeta, []byte(lateKey(b.EventID, b.ID)), nil); err != nil {
				return err
			}
		}
		if err := freeBooking(tx, &b); err != nil {
			return err
		}
		return saveBooking(tx, now, b)
	})
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return b, err
}
