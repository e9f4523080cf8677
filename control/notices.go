package control

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Notices are the e-mails the platform owes people. Each is written in the
// same transaction as the change that causes it (a transactional outbox), so
// a crash can neither lose one nor send one for a change that never
// committed; a sender drains them in the background. A notice's ID is stable
// (kind.subject.recipient, URL-safe), so writing it twice keeps one, and the
// mail's Message-ID derives from it.

// NoticeKind names what a notice says; templates exist per kind and language.
type NoticeKind string

// Notice kinds.
const (
	NoticeBookingConfirmed      NoticeKind = "booking_confirmed"      // to the client
	NoticeBookingNew            NoticeKind = "booking_new"            // to the expert
	NoticeRegistrationConfirmed NoticeKind = "registration_confirmed" // to the client
	NoticeRegistrationNew       NoticeKind = "registration_new"       // to the expert
	NoticeBookingCancelled      NoticeKind = "booking_cancelled"      // to both; who cancelled and the refund
	NoticeReminder              NoticeKind = "reminder"               // to both, 24 h and 1 h before
	NoticeReceipt               NoticeKind = "receipt"                // to the client, after settlement
	NoticeNotCharged            NoticeKind = "not_charged"            // to the client: expert absent (APT-7, EVT-6)
	NoticeClaimNew              NoticeKind = "claim_new"              // to the expert: a claim to answer (CLM-1)
	NoticeClaimAnswered         NoticeKind = "claim_answered"         // to the client: the expert's response (CLM-3)
	NoticeClaimEscalated        NoticeKind = "claim_escalated"        // to both: an operator decides (CLM-5)
	NoticeClaimDecided          NoticeKind = "claim_decided"          // to both: the operator's decision
	NoticePayoutSent            NoticeKind = "payout_sent"            // to the expert (PAY-6)
)

// Notice states.
const (
	NoticeQueued   = "queued"   // waiting for its first attempt
	NoticeRetrying = "retrying" // a temporary failure; tried again later
	NoticeSent     = "sent"     // accepted by the mail server
	NoticeFailed   = "failed"   // refused for good, or out of attempts: an operator may resend
)

// Calendar methods carried by a notice (RFC 5546).
const (
	CalRequest = "REQUEST"
	CalCancel  = "CANCEL"
)

// Notice is one e-mail owed to one person, with the facts its template needs
// frozen at the moment of the change.
type Notice struct {
	ID        string     `json:"id"`
	Kind      NoticeKind `json:"kind"`
	UserID    string     `json:"user_id"`
	Email     string     `json:"email"`
	ToExpert  bool       `json:"to_expert"` // the recipient is the booking's expert
	Name      string     `json:"name"`
	Locale    string     `json:"locale"`
	TimeZone  string     `json:"time_zone"`
	CreatedAt time.Time  `json:"created_at"`

	// What it is about.
	BookingID    string      `json:"booking_id,omitempty"`
	BookingKind  BookingKind `json:"booking_kind,omitempty"`
	Title        string      `json:"title,omitempty"` // an event's title
	ExpertName   string      `json:"expert_name,omitempty"`
	ClientName   string      `json:"client_name,omitempty"`
	Start        time.Time   `json:"start,omitzero"`
	End          time.Time   `json:"end,omitzero"`
	Media        MediaKind   `json:"media,omitempty"`
	AmountCents  int64       `json:"amount_cents"`           // paid, charged or paid out
	RefundCents  int64       `json:"refund_cents"`           // refunded
	Currency     string      `json:"currency,omitempty"`     // ISO 4217
	CancelBefore time.Time   `json:"cancel_before,omitzero"` // free cancellation until (APT-6)
	CancelledBy  Role        `json:"cancelled_by,omitempty"` // who cancelled
	Charged      bool        `json:"charged"`                // the client pays in the end
	Hours        int         `json:"hours,omitempty"`        // a reminder's lead time
	Path         string      `json:"path,omitempty"`         // the web app's screen for it, e.g. "/activity"
	Calendar     string      `json:"calendar,omitempty"`     // CalRequest, CalCancel or empty
	CalUID       string      `json:"cal_uid,omitempty"`      // stable across updates and the cancel
	CalSequence  int         `json:"cal_sequence,omitempty"` // bumped on each change (RFC 5545 SEQUENCE)
	Room         string      `json:"room,omitempty"`         // the call's room, for the join link
	Outcome      string      `json:"outcome,omitempty"`      // why a booking ended as it did
	ClaimID      string      `json:"claim_id,omitempty"`
	Message      string      `json:"message,omitempty"`  // the other side's words (a claim's response or decision)
	RunDate      string      `json:"run_date,omitempty"` // a payout's run date
	// Secret marks a notice whose Path carries a credential (a reset link):
	// operators never see it, and it is wiped once sent.
	Secret bool `json:"secret,omitempty"`

	// Delivery.
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	SentAt      time.Time `json:"sent_at,omitzero"`
}

// Mailer delivers one notice. An error wrapping ErrMailPermanent means the
// server refused it for good (a 5xx): it is not tried again.
type Mailer interface {
	Send(ctx context.Context, n Notice) error
}

// ErrMailPermanent marks a delivery the mail server refused for good.
var ErrMailPermanent = errors.New("permanent mail failure")

const (
	maxNoticeAttempts = 10
	noticeBackoffBase = 30 * time.Second
	noticeBackoffMax  = 2 * time.Hour
)

// notify queues n in tx, unless a notice with its ID exists already.
func notify(tx Tx, now time.Time, n Notice) error {
	if tx.Get(bNotices, []byte(n.ID)) != nil {
		return nil
	}
	n.CreatedAt, n.State, n.NextAttempt = now, NoticeQueued, now
	if err := putJSON(tx, bNotices, n.ID, n); err != nil {
		return err
	}
	return tx.Put(bNoticeQ, []byte(ts(now)+n.ID), nil)
}

// recipient fills a notice's addressee from the stored user.
func recipient(tx Tx, userID string, n *Notice) error {
	u, err := loadUser(tx, userID)
	if err != nil {
		return err
	}
	n.UserID, n.Email, n.Name, n.Locale, n.TimeZone = u.ID, u.Email, u.Name, u.Locale, u.TimeZone
	if n.Locale == "" {
		n.Locale = "fr"
	}
	return nil
}

// saveBooking stores b and queues the notices its change owes: every path
// that changes a booking goes through here, so none can forget to tell
// people. The previous stored version tells what changed.
func saveBooking(tx Tx, now time.Time, b Booking) error {
	var prev Booking
	had, err := getJSON(tx, bBookings, b.ID, &prev)
	if err != nil {
		had = false // a damaged previous record: notify as if new
	}
	if err := putJSON(tx, bBookings, b.ID, b); err != nil {
		return err
	}
	if !had {
		prev = Booking{}
	}
	return bookingNotices(tx, now, prev, b)
}

func bookingNotices(tx Tx, now time.Time, prev, b Booking) error {
	base := Notice{BookingID: b.ID, BookingKind: b.Kind, Start: b.Start, End: b.End, Media: b.Media,
		Currency: b.Policy.Currency, Room: b.Room, CalUID: b.ID + "@atlas11"}
	if b.Kind == KindRegistration {
		if e, err := loadEvent(tx, b.EventID); err == nil {
			base.Title = e.Title
		}
	}
	if u, err := loadUser(tx, b.ExpertID); err == nil {
		base.ExpertName = u.Name
	}
	if u, err := loadUser(tx, b.ClientID); err == nil {
		base.ClientName = u.Name
	}
	send := func(kind NoticeKind, to, suffix string, edit func(*Notice)) error {
		n := base
		n.Kind = kind
		n.ID = string(kind) + "." + b.ID + "." + to + suffix
		n.ToExpert = to == b.ExpertID
		if err := recipient(tx, to, &n); err != nil {
			return err
		}
		if edit != nil {
			edit(&n)
		}
		return notify(tx, now, n)
	}
	switch {
	case prev.Status != StatusConfirmed && b.Status == StatusConfirmed:
		clientKind, expertKind := NoticeBookingConfirmed, NoticeBookingNew
		if b.Kind == KindRegistration {
			clientKind, expertKind = NoticeRegistrationConfirmed, NoticeRegistrationNew
		}
		invite := func(n *Notice) {
			n.AmountCents, n.Calendar, n.CalSequence, n.Path = b.PaidCents, CalRequest, 0, "/activity"
			n.CancelBefore = b.Start.Add(-b.Policy.ClientCancelWindow)
		}
		if err := send(clientKind, b.ClientID, "", invite); err != nil {
			return err
		}
		if b.Kind == KindAppointment { // an event's expert has the event itself in their calendar
			if err := send(expertKind, b.ExpertID, "", invite); err != nil {
				return err
			}
		} else if err := send(expertKind, b.ExpertID, "", func(n *Notice) { n.AmountCents, n.Path = b.PaidCents, "/expert/events" }); err != nil {
			return err
		}
		for _, h := range []int{24, 1} {
			if at := b.Start.Add(-time.Duration(h) * time.Hour); at.After(now) {
				if err := addDue(tx, at, dueReminder, b.ID+"/"+strconv.Itoa(h)); err != nil {
					return err
				}
			}
		}
	case prev.Status == StatusConfirmed && b.Status == StatusCancelled:
		cancelled := func(n *Notice) {
			n.Outcome = b.Outcome
			n.CancelledBy, n.Charged, n.RefundCents, n.AmountCents = b.CancelledBy, b.Charged, b.RefundedCents, b.PaidCents
			n.Calendar, n.CalSequence, n.Path = CalCancel, 1, "/activity"
		}
		if err := send(NoticeBookingCancelled, b.ClientID, "", cancelled); err != nil {
			return err
		}
		if b.Kind == KindAppointment || b.CancelledBy == RoleClient {
			expertCal := func(n *Notice) {
				cancelled(n)
				if b.Kind == KindRegistration {
					n.Calendar = ""
				}
			}
			if err := send(NoticeBookingCancelled, b.ExpertID, "", expertCal); err != nil {
				return err
			}
		}
	case prev.SettledAt.IsZero() && !b.SettledAt.IsZero() && b.Status != StatusCancelled:
		if b.Charged {
			return send(NoticeReceipt, b.ClientID, "", func(n *Notice) {
				n.AmountCents, n.RefundCents, n.Charged, n.Path = b.PaidCents, b.RefundedCents, true, "/activity"
			})
		}
		return send(NoticeNotCharged, b.ClientID, "", func(n *Notice) {
			n.AmountCents, n.RefundCents, n.Path = b.PaidCents, b.RefundedCents, "/activity"
		})
	}
	return nil
}

// saveClaim stores c and queues the notices its change owes, as
// saveBooking does for bookings.
func saveClaim(tx Tx, now time.Time, c Claim) error {
	var prev Claim
	if had, err := getJSON(tx, bClaims, c.ID, &prev); err != nil || !had {
		prev = Claim{}
	}
	if err := putJSON(tx, bClaims, c.ID, c); err != nil {
		return err
	}
	if prev.Status == c.Status {
		return nil
	}
	b, err := loadBooking(tx, c.BookingID)
	if err != nil {
		return err
	}
	base := Notice{ClaimID: c.ID, BookingID: b.ID, BookingKind: b.Kind, Start: b.Start, End: b.End, Media: b.Media,
		Currency: b.Policy.Currency, Path: "/claims/" + c.ID}
	if b.Kind == KindRegistration {
		if e, err := loadEvent(tx, b.EventID); err == nil {
			base.Title = e.Title
		}
	}
	if u, err := loadUser(tx, c.ExpertID); err == nil {
		base.ExpertName = u.Name
	}
	if u, err := loadUser(tx, c.ClientID); err == nil {
		base.ClientName = u.Name
	}
	send := func(kind NoticeKind, to string, edit func(*Notice)) error {
		n := base
		n.Kind, n.ID, n.ToExpert = kind, string(kind)+"."+c.ID+"."+to, to == c.ExpertID
		if err := recipient(tx, to, &n); err != nil {
			return err
		}
		if edit != nil {
			edit(&n)
		}
		return notify(tx, now, n)
	}
	switch c.Status {
	case ClaimOpen:
		return send(NoticeClaimNew, c.ExpertID, func(n *Notice) { n.Message, n.AmountCents = c.Reason, b.PaidCents-b.RefundedCents })
	case ClaimResponded:
		return send(NoticeClaimAnswered, c.ClientID, func(n *Notice) {
			n.Message, n.RefundCents, n.Outcome = c.ResponseMessage, c.ExpertRefund, string(c.Response)
		})
	case ClaimEscalated:
		for _, to := range []string{c.ClientID, c.ExpertID} {
			if err := send(NoticeClaimEscalated, to, nil); err != nil {
				return err
			}
		}
	case ClaimDecided:
		for _, to := range []string{c.ClientID, c.ExpertID} {
			if err := send(NoticeClaimDecided, to, func(n *Notice) { n.Message, n.RefundCents = c.DecisionMessage, c.DecisionRefund }); err != nil {
				return err
			}
		}
	}
	return nil
}

// payoutNotice tells an expert their payout is on its way.
func payoutNotice(tx Tx, now time.Time, p Payout, currency string) error {
	n := Notice{Kind: NoticePayoutSent, ID: string(NoticePayoutSent) + "." + p.ID, AmountCents: p.AmountCents,
		Currency: currency, RunDate: p.RunDate, Path: "/expert/earnings", ToExpert: true}
	if err := recipient(tx, p.ExpertID, &n); err != nil {
		return err
	}
	return notify(tx, now, n)
}

// remind sends the reminder h hours before a booking that still takes place,
// to both sides, if it is still useful: a reminder never arrives after the
// start, and the 24-hour one is dropped once the 1-hour one is due.
func remind(tx Tx, now time.Time, id string) error {
	bookingID, hs, _ := strings.Cut(id, "/")
	h, _ := strconv.Atoi(hs)
	b, err := loadBooking(tx, bookingID)
	if ErrorKind(err) == NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if b.Status != StatusConfirmed || !now.Before(b.Start) || (h > 1 && !now.Before(b.Start.Add(-time.Hour))) {
		return nil
	}
	base := Notice{Kind: NoticeReminder, BookingID: b.ID, BookingKind: b.Kind, Start: b.Start, End: b.End,
		Media: b.Media, Room: b.Room, Hours: h, Path: "/activity"}
	if b.Kind == KindRegistration {
		if e, err := loadEvent(tx, b.EventID); err == nil {
			base.Title = e.Title
		}
	}
	if u, err := loadUser(tx, b.ExpertID); err == nil {
		base.ExpertName = u.Name
	}
	if u, err := loadUser(tx, b.ClientID); err == nil {
		base.ClientName = u.Name
	}
	to := []string{b.ClientID}
	if b.Kind == KindAppointment {
		to = append(to, b.ExpertID)
	}
	for _, u := range to {
		if usr, err := loadUser(tx, u); err == nil && usr.NoReminders {
			continue // a non-essential message the user declined
		}
		n := base
		n.ID = string(NoticeReminder) + "." + b.ID + "." + u + "." + hs
		n.ToExpert = u == b.ExpertID
		if err := recipient(tx, u, &n); err != nil {
			return err
		}
		if err := notify(tx, now, n); err != nil {
			return err
		}
	}
	return nil
}

// DeliverNotices sends the notices whose time has come through m, each
// marked in its own transaction: sent, retried later with back-off on a
// temporary failure, or failed. It returns how many were sent.
func (s *Service) DeliverNotices(ctx context.Context, m Mailer) (int, error) {
	now := s.clock.Now()
	var keys []string
	if err := s.view(func(tx Tx) error {
		return tx.Scan(bNoticeQ, nil, []byte(ts(now.Add(time.Second))), func(k, _ []byte) error {
			keys = append(keys, string(k))
			if len(keys) >= 200 {
				return ErrStopScan
			}
			return nil
		})
	}); err != nil {
		return 0, internal(err)
	}
	sent := 0
	for _, k := range keys {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		n, lease, ok, err := s.claimNotice(now, k)
		if err != nil {
			return sent, err
		}
		if !ok {
			continue
		}
		sendErr := m.Send(ctx, n)
		if err := s.update(func(tx Tx) error {
			if err := tx.Delete(bNoticeQ, []byte(lease)); err != nil {
				return err
			}
			n.Attempts++
			switch {
			case sendErr == nil:
				n.State, n.SentAt, n.NextAttempt, n.LastError = NoticeSent, now, time.Time{}, ""
				if n.Secret {
					n.Path = "" // the link did its job: it is no longer kept
				}
			case errors.Is(sendErr, ErrMailPermanent) || n.Attempts >= maxNoticeAttempts:
				n.State, n.NextAttempt, n.LastError = NoticeFailed, time.Time{}, truncate(sendErr.Error(), 500)
			default:
				d := min(noticeBackoffBase<<min(n.Attempts-1, 20), noticeBackoffMax)
				n.State, n.NextAttempt, n.LastError = NoticeRetrying, now.Add(d), truncate(sendErr.Error(), 500)
				if err := tx.Put(bNoticeQ, []byte(ts(n.NextAttempt)+n.ID), nil); err != nil {
					return err
				}
			}
			return putJSON(tx, bNotices, n.ID, n)
		}); err != nil {
			return sent, internal(err)
		}
		if sendErr == nil {
			sent++
		} else {
			s.log.Warn("notice not delivered", "notice", n.ID, "attempt", n.Attempts, "state", n.State, "err", sendErr)
		}
	}
	return sent, nil
}

// noticeLease is how long a claimed notice waits before another sender may
// take it: a sender that died mid-send is replaced, with the same
// Message-ID, so a receiving server can drop the duplicate.
const noticeLease = 5 * time.Minute

// claimNotice takes the queued entry k for this sender, moving it to a
// lease, so that concurrent senders (the background loop and an operator's
// clock move) never both send it. ok is false when there is nothing to send.
func (s *Service) claimNotice(now time.Time, k string) (n Notice, lease string, ok bool, err error) {
	err = s.update(func(tx Tx) error {
		ok = false
		if tx.Get(bNoticeQ, []byte(k)) == nil {
			return nil // taken by another sender
		}
		if err := tx.Delete(bNoticeQ, []byte(k)); err != nil {
			return err
		}
		found, err := getJSON(tx, bNotices, k[8:], &n)
		if err != nil {
			s.log.Error("notice unreadable, dropped from the queue", "notice", k[8:], "err", err)
			return nil
		}
		if !found || (n.State != NoticeQueued && n.State != NoticeRetrying) {
			return nil
		}
		lease = ts(now.Add(noticeLease)) + n.ID
		ok = true
		return tx.Put(bNoticeQ, []byte(lease), nil)
	})
	return n, lease, ok, internalOrNil(err)
}

// NoticeFilter narrows Notices.
type NoticeFilter struct {
	State  string // empty: every state
	UserID string // empty: everyone
	Limit  int    // at most this many, newest first (default 200)
}

// Notices lists notices, newest first (operators only).
func (s *Service) Notices(ctx context.Context, operatorID string, f NoticeFilter) ([]Notice, error) {
	out := []Notice{}
	err := s.view(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		return tx.Scan(bNotices, nil, nil, func(_, v []byte) error {
			var n Notice
			if json.Unmarshal(v, &n) != nil {
				return nil
			}
			if (f.State == "" || n.State == f.State) && (f.UserID == "" || n.UserID == f.UserID) {
				out = append(out, redacted(n))
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Notice returns one notice (operators only).
func (s *Service) Notice(ctx context.Context, operatorID, id string) (Notice, error) {
	var n Notice
	err := s.view(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		ok, err := getJSON(tx, bNotices, id, &n)
		if err != nil || !ok {
			return Errorf(NotFound, "notice_not_found", "no such notice")
		}
		return nil
	})
	return redacted(n), err
}

// redacted is a notice as operators may see it: a credential in its link
// is replaced, so that nobody reading the outbox can use it.
func redacted(n Notice) Notice {
	if n.Secret && n.Path != "" {
		n.Path = n.Path[:strings.LastIndex(n.Path, "/")+1] + "[redacted]"
	}
	return n
}

// ResendNotice queues a failed notice again with a fresh series of attempts.
func (s *Service) ResendNotice(ctx context.Context, operatorID, id string) (Notice, error) {
	var n Notice
	err := s.update(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		ok, err := getJSON(tx, bNotices, id, &n)
		if err != nil || !ok {
			return Errorf(NotFound, "notice_not_found", "no such notice")
		}
		if n.State != NoticeFailed {
			return Errorf(Conflict, "notice_not_failed", "only a failed notice can be sent again")
		}
		now := s.clock.Now()
		n.State, n.Attempts, n.NextAttempt, n.LastError = NoticeQueued, 0, now, ""
		if err := tx.Put(bNoticeQ, []byte(ts(now)+n.ID), nil); err != nil {
			return err
		}
		return putJSON(tx, bNotices, n.ID, n)
	})
	return n, err
}
