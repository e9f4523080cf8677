package control_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"atlas11/control"
)

// mailbox is the Mailer seam: it records what is sent and fails on demand.
type mailbox struct {
	mu   sync.Mutex
	sent map[string]int // notice ID -> times sent
	fail func(n control.Notice) error
}

func newMailbox() *mailbox { return &mailbox{sent: map[string]int{}} }

func (m *mailbox) Send(_ context.Context, n control.Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(n); err != nil {
			return err
		}
	}
	m.sent[n.ID]++
	return nil
}

func (e *env) notices(op control.User, userID string) map[string]control.Notice {
	e.t.Helper()
	ns, err := e.svc.Notices(e.ctx, op.ID, control.NoticeFilter{UserID: userID})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]control.Notice{}
	for _, n := range ns {
		key := string(n.Kind)
		if n.Kind == control.NoticeReminder {
			key = fmt.Sprintf("reminder-%dh", n.Hours)
		}
		if _, dup := out[key+"/"+n.BookingID]; dup {
			e.t.Fatalf("notice %s for %s twice", key, n.BookingID)
		}
		out[key+"/"+n.BookingID] = n
	}
	return out
}

func (e *env) userIn(role control.Role, name, locale, tz string) control.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.ctx, control.NewUser{Email: name + e.uniq() + "@example.com", Name: name,
		Role: role, PasswordHash: "argon2id$test", TimeZone: tz, Locale: locale})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// Each change to a booking queues, in its own transaction, the e-mails it
// owes: confirmation with an invitation to the client and the expert,
// reminders 24 h and 1 h before, the cancellation with the same calendar
// UID, and the receipt after settlement; each once, to the right person,
// in their language and zone.
func TestNotices_BookingLifecycleQueuesEachMailOnce(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.expert("Ana")
	cl := e.userIn(control.RoleClient, "Bob", "en", "America/New_York")
	start := t0.Add(72 * time.Hour)
	b := e.appointment(ex, cl, start, 5000)

	got := e.notices(op, cl.ID)
	conf, ok := got["booking_confirmed/"+b.ID]
	if !ok || len(got) != 2 { // and the sign-up's verification
		t.Fatalf("client notices after booking: %v", got)
	}
	wantEq(t, "to", conf.Email, cl.Email)
	wantEq(t, "locale", conf.Locale, "en")
	wantEq(t, "zone", conf.TimeZone, "America/New_York")
	wantEq(t, "paid", conf.AmountCents, 5000)
	wantEq(t, "free cancellation until (APT-6)", conf.CancelBefore, start.Add(-48*time.Hour))
	wantEq(t, "calendar", conf.Calendar, control.CalRequest)
	wantEq(t, "expert named", conf.ExpertName, "Ana")
	exN := e.notices(op, ex.ID)
	newB, ok := exN["booking_new/"+b.ID]
	if !ok || newB.CalUID != conf.CalUID || newB.Locale != "fr" || newB.ClientName != "Bob" {
		t.Fatalf("expert notices after booking: %+v", exN)
	}

	// Reminders, each at its time, to both sides.
	e.at(start.Add(-24 * time.Hour))
	e.at(start.Add(-time.Hour))
	e.runDue()
	for _, u := range []control.User{cl, ex} {
		got := e.notices(op, u.ID)
		if _, ok := got["reminder-24h/"+b.ID]; !ok {
			t.Fatalf("no 24-hour reminder to %s: %v", u.Name, got)
		}
		if _, ok := got["reminder-1h/"+b.ID]; !ok {
			t.Fatalf("no 1-hour reminder to %s: %v", u.Name, got)
		}
	}

	// Delivered: the client gets a receipt; nothing is queued twice.
	e.presence(b.Room, ex.ID, true, b.Start)
	e.presence(b.Room, ex.ID, false, b.End)
	e.at(b.End.Add(time.Minute))
	e.runDue()
	got = e.notices(op, cl.ID)
	if r, ok := got["receipt/"+b.ID]; !ok || r.AmountCents != 5000 {
		t.Fatalf("client notices after settlement: %v", got)
	}
	wantEq(t, "client notices", len(got), 5) // with the sign-up's verification

	// A cancellation tells both, with the same calendar UID and a refund.
	b2 := e.appointment(ex, cl, b.End.Add(96*time.Hour), 3000)
	if _, err := e.svc.CancelBooking(e.ctx, cl.ID, b2.ID, "c"+e.uniq()); err != nil {
		t.Fatal(err)
	}
	for _, u := range []control.User{cl, ex} {
		c, ok := e.notices(op, u.ID)["booking_cancelled/"+b2.ID]
		if !ok || c.Calendar != control.CalCancel || c.CalUID != b2.ID+"@atlas11" || c.RefundCents != 3000 || c.CancelledBy != control.RoleClient {
			t.Fatalf("cancellation notice to %s: %+v", u.Name, c)
		}
	}
	// No reminder for a cancelled booking.
	e.at(b2.Start.Add(-30 * time.Minute))
	if _, ok := e.notices(op, cl.ID)["reminder-1h/"+b2.ID]; ok {
		t.Fatal("a reminder for a cancelled booking")
	}
}

// A reminder due while the server was down is sent when it comes back only
// while still useful: never after the start, and the 24-hour one not once
// the 1-hour one is due.
func TestNotices_LateRemindersOnlyWhileUseful(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	soon := e.appointment(ex, cl, t0.Add(30*time.Hour), 2000)
	later := e.appointment(ex, cl, t0.Add(60*time.Hour), 2000)
	e.at(soon.Start.Add(-30 * time.Minute)) // down since before the 24-hour mark
	got := e.notices(op, cl.ID)
	if _, ok := got["reminder-24h/"+soon.ID]; ok {
		t.Fatal("a 24-hour reminder half an hour before the start")
	}
	if _, ok := got["reminder-1h/"+soon.ID]; !ok {
		t.Fatalf("no 1-hour reminder: %v", got)
	}
	e.at(later.Start.Add(time.Minute)) // down across both marks, back after the start
	got = e.notices(op, cl.ID)
	for _, k := range []string{"reminder-24h/", "reminder-1h/"} {
		if _, ok := got[k+later.ID]; ok {
			t.Fatalf("%s sent after the start", k)
		}
	}
}

// An expert who does not show leaves the client unpaid, and the client is
// told so (APT-7).
func TestNotices_ExpertAbsentClientToldNotCharged(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(72*time.Hour), 4000)
	e.at(b.End.Add(time.Minute))
	e.runDue()
	n, ok := e.notices(op, cl.ID)["not_charged/"+b.ID]
	if !ok || n.RefundCents != 4000 {
		t.Fatalf("not-charged notice: %+v (%v)", n, e.notices(op, cl.ID))
	}
}

// A booking that does not commit owes nothing: a refused booking of a taken
// slot queues no mail.
func TestNotices_NothingForAChangeThatDidNotCommit(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl, other := e.expert("Ana"), e.client("Bob"), e.client("Cid")
	s := e.slot(ex, t0.Add(72*time.Hour), 60, 2000)
	e.book(cl, s.ID)
	if _, err := e.svc.Book(e.ctx, other.ID, control.BookRequest{SlotID: s.ID, IdempotencyKey: "x"}); err == nil {
		t.Fatal("a taken slot was booked")
	}
	for k := range e.notices(op, other.ID) {
		if k != "email_verify/" { // the sign-up's own
			t.Fatalf("notice %s for a refused booking", k)
		}
	}
}

// Delivery: a temporary failure is retried with back-off until it goes
// through, once; a permanent one fails and waits for an operator, whose
// resend delivers it; concurrent senders never send a notice twice.
func TestNotices_DeliveryRetriesFailsResendsAndNeverDuplicates(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(72*time.Hour), 5000)
	m := newMailbox()
	fails := 2
	m.fail = func(n control.Notice) error {
		if n.Kind == control.NoticeBookingConfirmed && fails > 0 {
			fails--
			return errors.New("421 try again later")
		}
		if n.Kind == control.NoticeBookingNew {
			return fmt.Errorf("550 no such mailbox: %w", control.ErrMailPermanent)
		}
		return nil
	}
	if _, err := e.svc.DeliverNotices(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	conf := e.notices(op, cl.ID)["booking_confirmed/"+b.ID]
	wantEq(t, "state", conf.State, control.NoticeRetrying)
	wantEq(t, "attempts", conf.Attempts, 1)
	if !conf.NextAttempt.After(e.clock.Now()) || conf.LastError == "" {
		t.Fatalf("retry %+v", conf)
	}
	// Not before its time.
	if _, err := e.svc.DeliverNotices(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "not yet", e.notices(op, cl.ID)["booking_confirmed/"+b.ID].Attempts, 1)
	for range 2 { // each retry waits longer, then goes
		next := e.notices(op, cl.ID)["booking_confirmed/"+b.ID].NextAttempt
		if err := e.clock.Set(next.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.DeliverNotices(e.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	conf = e.notices(op, cl.ID)["booking_confirmed/"+b.ID]
	wantEq(t, "sent", conf.State, control.NoticeSent)
	wantEq(t, "sent once", m.sent[conf.ID], 1)
	wantEq(t, "attempts", conf.Attempts, 3)

	bad := e.notices(op, ex.ID)["booking_new/"+b.ID]
	wantEq(t, "permanent", bad.State, control.NoticeFailed)
	wantEq(t, "tried once", bad.Attempts, 1)
	if _, err := e.svc.ResendNotice(e.ctx, cl.ID, bad.ID); control.ErrorKind(err) != control.Forbidden {
		t.Fatalf("a client resent a notice: %v", err)
	}
	_, err := e.svc.ResendNotice(e.ctx, op.ID, conf.ID)
	wantCode(t, err, "notice_not_failed")
	m.fail = nil
	if _, err := e.svc.ResendNotice(e.ctx, op.ID, bad.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeliverNotices(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "resent", e.notices(op, ex.ID)["booking_new/"+b.ID].State, control.NoticeSent)
	wantEq(t, "resent once", m.sent[bad.ID], 1)

	// Many bookings, many concurrent senders: each notice sent exactly once.
	for i := range 20 {
		e.appointment(ex, cl, t0.Add(100*time.Hour+time.Duration(i)*2*time.Hour), 2000)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.DeliverNotices(e.ctx, m); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, err := e.svc.Notices(e.ctx, op.ID, control.NoticeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if n.State != control.NoticeSent || m.sent[n.ID] != 1 {
			t.Fatalf("notice %s: state %s, sent %d times", n.ID, n.State, m.sent[n.ID])
		}
	}
}

// A claim tells each side what they must know: the expert of a new claim,
// the client of the answer, both of the escalation and the decision; a
// payout tells the expert; an event under its minimum tells why.
func TestNotices_ClaimsPayoutsAndEventsUnderMinimum(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 9000)
	c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "The sound was broken")
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(u control.User) map[control.NoticeKind]control.Notice {
		ns, err := e.svc.Notices(e.ctx, op.ID, control.NoticeFilter{UserID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		out := map[control.NoticeKind]control.Notice{}
		for _, n := range ns {
			out[n.Kind] = n
		}
		return out
	}
	if n, ok := kinds(ex)[control.NoticeClaimNew]; !ok || n.Message != "The sound was broken" || n.ClaimID != c.ID {
		t.Fatalf("expert's claim notice: %+v", n)
	}
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondDecline, Message: "It worked", IdempotencyKey: "r"}); err != nil {
		t.Fatal(err)
	}
	if n := kinds(cl)[control.NoticeClaimAnswered]; n.Message != "It worked" || n.Outcome != "decline" {
		t.Fatalf("client's answer notice: %+v", n)
	}
	if _, err := e.svc.RejectClaim(e.ctx, cl.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideClaim(e.ctx, op.ID, c.ID, control.ClaimDecision{RefundCents: 1000, Message: "Half the call", IdempotencyKey: "d"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []control.User{cl, ex} {
		k := kinds(u)
		if _, ok := k[control.NoticeClaimEscalated]; !ok {
			t.Fatalf("no escalation notice to %s", u.Name)
		}
		if n := k[control.NoticeClaimDecided]; n.RefundCents != 1000 || n.Message != "Half the call" {
			t.Fatalf("decision notice to %s: %+v", u.Name, n)
		}
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	e.at(time.Date(2026, 1, 16, 0, 0, 1, 0, paris))
	pays, err := e.svc.Payouts(e.ctx, ex.ID, ex.ID)
	if err != nil || len(pays) != 1 {
		t.Fatalf("payouts %v %v", pays, err)
	}
	if n, ok := kinds(ex)[control.NoticePayoutSent]; !ok || n.AmountCents != pays[0].AmountCents || n.RunDate != "2026-01-16" {
		t.Fatalf("payout notice: %+v (%v)", n, ok)
	}
	ev := e.event(ex, time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC), 3, 10, 2000)
	reg := e.register(cl, ev.ID)
	e.at(ev.Start.Add(time.Second))
	n, ok := e.notices(op, cl.ID)["booking_cancelled/"+reg.ID]
	if !ok || n.Outcome != "under_minimum" || n.RefundCents != 2000 {
		t.Fatalf("EVT-5 notice: %+v", n)
	}
}

// A user who declines reminders gets none, yet still gets what is
// essential (the confirmation, the cancellation); the language chosen
// later is the one of the next e-mails.
func TestNotices_DeclinedRemindersAndChangedLanguage(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	off, en := false, "en"
	if _, err := e.svc.UpdatePreferences(e.ctx, cl.ID, control.Preferences{Reminders: &off, Locale: &en}); err != nil {
		t.Fatal(err)
	}
	bad := "xx"
	_, err := e.svc.UpdatePreferences(e.ctx, cl.ID, control.Preferences{Locale: &bad})
	wantCode(t, err, "invalid_locale")
	// A session opened before sees the change at once.
	sess, err := e.svc.CreateSession(e.ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SessionUser(e.ctx, sess.Token); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := e.svc.UpdatePreferences(e.ctx, cl.ID, control.Preferences{Reminders: &on}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.svc.SessionUser(e.ctx, sess.Token); u.NoReminders {
		t.Fatal("a cached session still sees reminders declined")
	}
	if _, err := e.svc.UpdatePreferences(e.ctx, cl.ID, control.Preferences{Reminders: &off}); err != nil {
		t.Fatal(err)
	}
	b := e.appointment(ex, cl, t0.Add(72*time.Hour), 3000)
	e.at(b.Start.Add(-30 * time.Minute))
	got := e.notices(op, cl.ID)
	if _, ok := got["reminder-1h/"+b.ID]; ok {
		t.Fatal("a reminder to a user who declined them")
	}
	if c, ok := got["booking_confirmed/"+b.ID]; !ok || c.Locale != "en" {
		t.Fatalf("confirmation %+v", c)
	}
	if _, ok := e.notices(op, ex.ID)["reminder-1h/"+b.ID]; !ok {
		t.Fatal("the expert, who did not decline, got no reminder")
	}
}
