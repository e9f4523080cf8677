package api

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

// TestOpenAPI_EveryRouteAnswersItsDocumentedShape walks every route of the
// document to a success on the real handler, validating each answer (and
// every error on the way) against the document's schemas.
func TestOpenAPI_EveryRouteAnswersItsDocumentedShape(t *testing.T) {
	e := newEnv(t)
	anon := e.anon()
	anon.get("/openapi.json").want(http.StatusOK)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	cl.post("/auth/signout", nil).want(http.StatusNoContent)
	cl.post("/auth/signin", map[string]any{"email": "client2@atlas11.test", "password": "correct horse battery"}).want(http.StatusOK)
	cl.get("/me").want(http.StatusOK)
	// A forgotten password, reset from the mailed link.
	anon.post("/auth/password-reset", map[string]any{"email": "client2@atlas11.test"}).want(http.StatusAccepted)
	anon.post("/auth/password-reset/confirm", map[string]any{"token": e.resetLink(cl.id), "password": "correct horse battery"}).want(http.StatusOK)
	cl.post("/auth/signin", map[string]any{"email": "client2@atlas11.test", "password": "correct horse battery"}).want(http.StatusOK)
	tok, _ := e.verifyLink(cl.id, control.NoticeEmailVerify)
	anon.post("/auth/verify-email", map[string]any{"token": tok}).want(http.StatusOK)
	cl.post("/me/email", map[string]any{"email": "client2.new@atlas11.test", "password": "correct horse battery"}).want(http.StatusAccepted)
	var prefs meView
	cl.do("PATCH", "/me", map[string]any{"reminders": false}).want(http.StatusOK).decode(&prefs)
	if prefs.User.Reminders {
		t.Fatal("reminders still on after declining them")
	}
	cl.do("PATCH", "/me", map[string]any{"locale": "de"}).wantErr(http.StatusBadRequest, "invalid_locale")
	cl.do("PATCH", "/me", map[string]any{"reminders": true}).want(http.StatusOK)

	// Profile and availability.
	ex.do("PATCH", "/me/profile", map[string]any{"slug": "walker", "headline": "h",
		"billing": map[string]any{"holder_name": "W", "iban": "FR7630006000011234567890189"}}).want(http.StatusOK)
	ex.get("/me/profile").want(http.StatusOK)
	var rule control.AvailabilityRule
	ex.post("/me/availability-rules", map[string]any{"weekday": 3, "start_time": "09:00", "end_time": "10:00",
		"slot_minutes": 30, "price_cents": 2000, "media": []string{"video"}}).want(http.StatusCreated).decode(&rule)
	ex.get("/me/availability-rules").want(http.StatusOK)
	anon.get("/experts/walker").want(http.StatusOK)
	anon.get("/experts/" + ex.id + "/slots").want(http.StatusOK)
	ex.do("DELETE", "/me/availability-rules/"+rule.ID, nil).want(http.StatusNoContent)
	tmp := ex.slot(t0.Add(200*time.Hour), 2000)
	ex.do("DELETE", "/me/slots/"+tmp.ID, nil).want(http.StatusNoContent)

	// Three appointments the expert attends, then settlement and payout.
	start := t0.Add(72 * time.Hour)
	var bookings []control.Booking
	for i := range 3 {
		s := ex.slot(start.Add(time.Duration(i)*time.Hour), 2500)
		b := cl.book(s.ID)
		bookings = append(bookings, b)
		for _, j := range []bool{true, false} {
			at := s.Start.Add(time.Minute)
			if !j {
				at = s.End.Add(-time.Minute)
			}
			anon.post("/internal/presence", map[string]any{"room": b.Room, "user": ex.id, "joined": j, "at": at},
				"Authorization", "Bearer "+testSecret).want(http.StatusNoContent)
		}
	}
	cl.get("/bookings").want(http.StatusOK)
	cl.get("/bookings/" + bookings[0].ID).want(http.StatusOK)
	extra := cl.book(ex.slot(start.Add(5*24*time.Hour), 2000).ID)
	cl.post("/bookings/"+extra.ID+"/cancel", nil, "Idempotency-Key", "cancel-extra").want(http.StatusOK)

	// Events.
	var ev control.Event
	ex.post("/events", map[string]any{"title": "T", "description": "D", "start": start.Add(6 * 24 * time.Hour),
		"minutes": 60, "price_cents": 900, "min_participants": 1, "max_participants": 5}).want(http.StatusCreated).decode(&ev)
	anon.get("/events/" + ev.ID).want(http.StatusOK)
	anon.get("/experts/" + ex.id + "/events").want(http.StatusOK)
	cl.post("/events/"+ev.ID+"/register", nil, "Idempotency-Key", "reg").want(http.StatusCreated)
	ex.get("/events/" + ev.ID + "/registrations").want(http.StatusOK)
	ex.post("/events/"+ev.ID+"/cancel", nil, "Idempotency-Key", "cancel-ev").want(http.StatusOK)

	// Calls.
	op.post("/sim/clock", map[string]any{"set": start.Add(-5 * time.Minute)}).want(http.StatusOK)
	op.get("/sim/clock").want(http.StatusOK)
	cl.post("/calls/"+bookings[0].Room+"/token", nil).want(http.StatusOK)

	// After the end: claims on two bookings, one resolved, one decided.
	op.post("/sim/clock", map[string]any{"set": start.Add(4 * time.Hour)}).want(http.StatusOK)
	cl.get("/calls/" + bookings[0].Room + "/presence/" + ex.id).want(http.StatusOK)
	var c1, c2 control.Claim
	cl.post("/claims", map[string]any{"booking_id": bookings[0].ID, "reason": "sound"}).want(http.StatusCreated).decode(&c1)
	cl.post("/claims", map[string]any{"booking_id": bookings[1].ID, "reason": "video"}).want(http.StatusCreated).decode(&c2)
	cl.get("/claims").want(http.StatusOK)
	ex.get("/claims/" + c1.ID).want(http.StatusOK)
	ex.post("/claims/"+c1.ID+"/respond", map[string]any{"kind": "partial_refund", "amount_cents": 300, "message": "sorry"},
		"Idempotency-Key", "r1").want(http.StatusOK)
	cl.post("/claims/"+c1.ID+"/accept", nil).want(http.StatusOK)
	ex.post("/claims/"+c2.ID+"/respond", map[string]any{"kind": "decline", "message": "it worked"},
		"Idempotency-Key", "r2").want(http.StatusOK)
	cl.post("/claims/"+c2.ID+"/reject", nil).want(http.StatusOK)
	op.post("/claims/"+c2.ID+"/decide", map[string]any{"refund_cents": 0, "message": "no refund"},
		"Idempotency-Key", "d2").want(http.StatusOK)

	// Background work: a damaged booking's job fails on its own; an operator
	// retries it, then resolves it.
	late := ex.slot(op.e.clock.Now().Add(3*time.Hour), 2000)
	lateBk := cl.book(late.ID)
	op.post("/sim/clock", map[string]any{"set": late.Start.Add(-30 * time.Minute)}).want(http.StatusOK) // reminders out first
	saved := e.poison("bookings", lateBk.ID)
	op.post("/sim/clock", map[string]any{"set": late.End.Add(time.Minute)}).want(http.StatusOK)
	var jv jobsView
	op.get("/operator/jobs").want(http.StatusOK).decode(&jv)
	if len(jv.Failed) != 1 {
		t.Fatalf("failed jobs %+v, want the damaged booking's", jv)
	}
	op.post("/operator/jobs/"+jv.Failed[0].ID+"/retry", nil).want(http.StatusOK)
	op.post("/operator/jobs/"+jv.Failed[0].ID+"/resolve", nil).want(http.StatusNoContent)
	e.restore("bookings", lateBk.ID, saved)

	// E-mails: one to an address that bounces fails for good; an operator
	// sees it and sends it again.
	bouncer := e.signUpAt(control.RoleClient, "bounce.test")
	bouncer.book(ex.slot(op.e.clock.Now().Add(50*time.Hour), 2000).ID)
	op.post("/sim/clock", map[string]any{"advance": "1s"}).want(http.StatusOK)
	var all, failed []control.Notice
	op.get("/operator/notices?state=failed").want(http.StatusOK).decode(&all)
	for _, n := range all {
		if n.Kind == control.NoticeBookingConfirmed {
			failed = append(failed, n)
		}
	}
	if len(failed) != 1 || failed[0].UserID != bouncer.id {
		t.Fatalf("failed notices %+v, want the bounced confirmation", failed)
	}
	op.get("/operator/notices?state=lost").wantErr(http.StatusBadRequest, "invalid_state")
	var nv noticeView
	op.get("/operator/notices/" + failed[0].ID).want(http.StatusOK).decode(&nv)
	if !strings.HasPrefix(nv.Preview.Subject, "Réservation confirmée") || !strings.Contains(nv.Preview.Text, "Bonjour") {
		t.Fatalf("notice preview %+v", nv.Preview)
	}
	op.get("/operator/notices/nope").wantErr(http.StatusNotFound, "notice_not_found")
	op.post("/operator/notices/"+failed[0].ID+"/resend", nil).want(http.StatusOK)

	// Calendars: a booking's file, a private feed, its revocation.
	cl.get("/bookings/" + bookings[0].ID + "/calendar.ics").want(http.StatusOK)
	var feed calendarFeedView
	cl.post("/me/calendar-feed", nil).want(http.StatusCreated).decode(&feed)
	anon.get(strings.TrimPrefix(feed.Path, Prefix)).want(http.StatusOK)
	cl.do("DELETE", "/me/calendar-feed", nil).want(http.StatusNoContent)

	// Payout day (PAY-6): the 16th, after every claim window.
	op.post("/sim/clock", map[string]any{"set": time.Date(2026, 3, 16, 6, 0, 0, 0, time.UTC)}).want(http.StatusOK)
	var payouts []control.Payout
	ex.get("/experts/" + ex.id + "/payouts").want(http.StatusOK).decode(&payouts)
	ex.get("/experts/" + ex.id + "/earnings").want(http.StatusOK)
	if len(payouts) != 1 {
		t.Errorf("PAY-6: %d payouts on the 16th, want 1", len(payouts))
	}
	var act []control.ActivityItem
	cl.get("/me/activity").want(http.StatusOK).decode(&act)
	ex.get("/me/activity").want(http.StatusOK)
	if len(act) == 0 {
		t.Error("ACC-4: empty activity")
	}

	// Operators.
	op.get("/operator/flags").want(http.StatusOK)
	op.get("/operator/settings").want(http.StatusOK)
	e.anon().get("/settings").want(http.StatusOK)
	op.get("/operator/payouts").want(http.StatusOK)
	op.do("PATCH", "/operator/settings", map[string]any{"event_cap": 40}).want(http.StatusOK)
	op.do("PUT", "/operator/experts/"+ex.id+"/event-cap", map[string]any{"event_cap": 45}).want(http.StatusNoContent)
	op.get("/operator/experts/" + ex.id + "/profile").want(http.StatusOK)
	op.get("/operator/backup").want(http.StatusOK)

	op.post("/operator/users/"+ex.id+"/close", nil).want(http.StatusNoContent)

	var missing []string
	for _, o := range e.doc.ops {
		if !e.seen[o.method+" "+o.template] {
			missing = append(missing, o.method+" "+o.template)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("routes never answered with a success: %v", missing)
	}
	if err := e.svc.VerifyLedger(t.Context()); err != nil {
		t.Fatal(err)
	}
}
