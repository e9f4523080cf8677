package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"atlas11/control"
)

func assertUnchanged(t *testing.T, before, after snapshot) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused request changed stored state:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestBadInput_NothingStored walks the bad inputs of issue 2: each answers
// its status and code, names the field, never a 500, and stores nothing.
func TestBadInput_PAY3_EVT2_TIME1_ClearErrorNothingStored(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	slot := ex.slot(t0.Add(72*time.Hour), 2000)
	start := t0.Add(96 * time.Hour)
	event := func(over map[string]any) map[string]any {
		m := map[string]any{"title": "Group", "description": "d", "start": start, "minutes": 60,
			"price_cents": 1500, "min_participants": 1, "max_participants": 10}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	key := func() []string { return []string{"Idempotency-Key", e.key()} }
	cases := []struct {
		name        string
		u           *user
		method      string
		path        string
		body        any
		hdr         []string
		status      int
		code, field string
	}{
		{"malformed JSON", ex, "POST", "/events", `{"title":`, nil, 400, "malformed_json", ""},
		{"unknown field", ex, "POST", "/events", event(map[string]any{"discount": 5}), nil, 400, "unknown_field", "discount"},
		{"trailing data", ex, "POST", "/me/slots", `{"minutes":60}{}`, nil, 400, "trailing_data", ""},
		{"wrong type", ex, "POST", "/events", event(map[string]any{"max_participants": "ten"}), nil, 400, "invalid_value", "max_participants"},
		{"body over 1 MiB", ex, "POST", "/events", `{"title":"` + strings.Repeat("x", maxBody) + `"}`, nil, 413, "body_too_large", ""},
		{"negative amount", ex, "POST", "/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": -2000, "media": []string{"video"}}, nil, 400, "negative_amount", "price_cents"},
		{"overflowing amount", ex, "POST", "/me/slots", `{"start":"2026-03-06T08:00:00Z","minutes":60,"price_cents":9223372036854775808,"media":["video"]}`, nil, 400, "invalid_value", "price_cents"},
		{"PAY-3 price under minimum (slot)", ex, "POST", "/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": 999, "media": []string{"video"}}, nil, 422, "price_below_minimum", "price_cents"},
		{"EVT-3 price under minimum (event)", ex, "POST", "/events", event(map[string]any{"price_cents": 499}), nil, 422, "price_below_minimum", "price_cents"},
		{"EVT-2 max participants over cap", ex, "POST", "/events", event(map[string]any{"max_participants": 50}), nil, 422, "max_over_cap", "max_participants"},
		{"EVT-2 min over max", ex, "POST", "/events", event(map[string]any{"min_participants": 11}), nil, 400, "invalid_participants", "max_participants"},
		{"slot in the past", ex, "POST", "/me/slots", map[string]any{"start": t0.Add(-time.Hour), "minutes": 60, "price_cents": 2000, "media": []string{"video"}}, nil, 422, "time_in_past", "start"},
		{"event in the past", ex, "POST", "/events", event(map[string]any{"start": t0.Add(-time.Hour)}), nil, 422, "time_in_past", "start"},
		{"bad time", ex, "POST", "/events", event(map[string]any{"start": "next monday"}), nil, 400, "invalid_value", "start"},
		{"TIME-1 unknown time zone (rule)", ex, "POST", "/me/availability-rules", map[string]any{"weekday": 1, "start_time": "09:00", "end_time": "12:00", "slot_minutes": 60, "price_cents": 2000, "media": []string{"video"}, "time_zone": "Europe/Atlantis"}, nil, 400, "unknown_time_zone", "time_zone"},
		{"TIME-1 unknown time zone (profile)", ex, "PATCH", "/me/profile", map[string]any{"time_zone": "Nowhere/Land"}, nil, 400, "unknown_time_zone", "time_zone"},
		{"bad weekday", ex, "POST", "/me/availability-rules", map[string]any{"weekday": 9, "start_time": "09:00", "end_time": "12:00", "slot_minutes": 60, "price_cents": 2000, "media": []string{"video"}}, nil, 400, "invalid_weekday", "weekday"},
		{"PAY-7 booking without idempotency key", cl, "POST", "/bookings", map[string]any{"slot_id": slot.ID}, nil, 400, "idempotency_key_required", "Idempotency-Key"},
		{"booking unknown slot", cl, "POST", "/bookings", map[string]any{"slot_id": "nope"}, key(), 404, "slot_not_found", ""},
		{"booking with unknown field", cl, "POST", "/bookings", map[string]any{"slot_id": slot.ID, "price_cents": 1}, key(), 400, "unknown_field", "price_cents"},
		{"media not offered", cl, "POST", "/bookings", map[string]any{"slot_id": slot.ID, "media": "chat"}, key(), 400, "media_not_offered", "media"},
		{"bad query time", cl, "GET", "/bookings?from=yesterday", nil, nil, 400, "invalid_time", "from"},
		{"form-encoded body", cl, "POST", "/claims", nil, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(cl.id, ex.id)
			r := c.u.do(c.method, c.path, c.body, c.hdr...)
			if r.status >= 500 {
				t.Fatalf("500 for a client mistake: %s", r.body)
			}
			r.wantErr(c.status, c.code, c.field)
			assertUnchanged(t, before, e.snapshot(cl.id, ex.id))
		})
	}
}

func TestAuthz_APT2_ClientCannotSeeOrCancelAnotherClientsBooking(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	a, b := e.signUp(control.RoleClient), e.signUp(control.RoleClient)
	bk := a.book(ex.slot(t0.Add(72*time.Hour), 2000).ID)
	before := e.snapshot(a.id, ex.id)
	b.get("/bookings/" + bk.ID).wantDenied()
	b.post("/bookings/"+bk.ID+"/cancel", nil, "Idempotency-Key", "k1").wantDenied()
	b.post("/claims", map[string]any{"booking_id": bk.ID, "reason": "x"}).wantDenied()
	b.post("/calls/"+bk.Room+"/token", nil).wantDenied()
	if n := e.ice.Load(); n != 0 {
		t.Fatalf("CALL-1: TURN credentials minted for a refused user (%d calls)", n)
	}
	b.get("/calls/" + bk.Room + "/presence/" + ex.id).wantDenied()
	var list []control.Booking
	b.get("/bookings").want(http.StatusOK).decode(&list)
	if len(list) != 0 {
		t.Fatalf("client B lists A's bookings: %+v", list)
	}
	assertUnchanged(t, before, e.snapshot(a.id, ex.id))
	// The owner still can.
	a.get("/bookings/" + bk.ID).want(http.StatusOK)
	a.get("/bookings").want(http.StatusOK).decode(&list)
	if len(list) != 1 || list[0].ID != bk.ID {
		t.Fatalf("owner's list: %+v", list)
	}
}

func TestAuthz_APT1_ExpertCannotTouchAnotherExpertsSlotsOrMoney(t *testing.T) {
	e := newEnv(t)
	x, y := e.signUp(control.RoleExpert), e.signUp(control.RoleExpert)
	s := x.slot(t0.Add(72*time.Hour), 2000)
	before := e.snapshot(x.id, x.id)
	y.do("DELETE", "/me/slots/"+s.ID, nil).wantDenied()
	y.get("/experts/" + x.id + "/earnings").wantDenied()
	y.get("/experts/" + x.id + "/payouts").wantDenied()
	y.get("/operator/experts/" + x.id + "/profile").wantDenied()
	assertUnchanged(t, before, e.snapshot(x.id, x.id))
	x.do("DELETE", "/me/slots/"+s.ID, nil).want(http.StatusNoContent)
}

func TestBook_PAY7_RetryWithOneKeyChargesOnce(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	s := ex.slot(t0.Add(72*time.Hour), 2000)
	var first, again control.Booking
	cl.post("/bookings", map[string]any{"slot_id": s.ID}, "Idempotency-Key", "same").want(http.StatusCreated).decode(&first)
	cl.post("/bookings", map[string]any{"slot_id": s.ID}, "Idempotency-Key", "same").want(http.StatusCreated).decode(&again)
	if first.ID != again.ID || first.PaidCents != 2000 {
		t.Fatalf("first %+v again %+v", first, again)
	}
	if n := len(e.gw.Calls()); n != 1 {
		t.Fatalf("%d gateway calls, want one charge", n)
	}
}

func TestBook_PAY7_FiftyConcurrentRetriesOneCharge(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	s := ex.slot(t0.Add(72*time.Hour), 2000)
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			r := cl.post("/bookings", map[string]any{"slot_id": s.ID}, "Idempotency-Key", "one-key")
			var b control.Booking
			switch r.status {
			case http.StatusCreated:
				_ = json.Unmarshal(r.body, &b)
				ids[i] = b.ID
			case http.StatusConflict: // the first attempt is still paying
				ids[i] = "conflict"
			default:
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	first := ""
	for _, id := range ids {
		if id != "conflict" && id != "" {
			if first != "" && id != first {
				t.Fatalf("two bookings for one key: %s and %s", first, id)
			}
			first = id
		}
	}
	if first == "" {
		t.Fatal("no retry got the booking")
	}
	if n := len(e.gw.Calls()); n != 1 {
		t.Fatalf("%d gateway calls for one key, want one charge", n)
	}
}

func TestBook_APT3_ConcurrentBookingsOverHTTPOneWins(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	s := ex.slot(t0.Add(72*time.Hour), 2000)
	const n = 24
	clients := make([]*user, n)
	for i := range clients {
		clients[i] = e.signUp(control.RoleClient)
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			statuses[i] = c.post("/bookings", map[string]any{"slot_id": s.ID}, "Idempotency-Key", fmt.Sprint("k", i)).status
		})
	}
	wg.Wait()
	won := 0
	for _, st := range statuses {
		switch st {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
		default:
			t.Fatalf("status %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d bookings succeeded, want exactly 1", won)
	}
}

// TestLife_APT7_CLM2_CLM4 follows one appointment through HTTP: book, the
// expert joins and leaves (internal presence endpoint), the clock passes
// the end, background work settles it, the client claims, the expert
// refunds part, the client accepts; a claim after 72 h is refused.
func TestLife_APT7_CLM2_CLM4_FullBookingThroughHTTP(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	start := t0.Add(72 * time.Hour)
	s := ex.slot(start, 2000)
	s2 := ex.slot(start.Add(2*time.Hour), 2000)
	bk := cl.book(s.ID)
	bk2 := cl.book(s2.ID)
	if bk.Status != control.StatusConfirmed || bk.PaidCents != 2000 {
		t.Fatalf("booking %+v", bk)
	}

	// ACC-4: upcoming item with join/cancel actions.
	var act []control.ActivityItem
	cl.get("/me/activity").want(http.StatusOK).decode(&act)
	if !hasAction(act, bk.ID, "cancel") {
		t.Fatalf("activity: %+v", act)
	}

	// CALL-1: the room opens 10 minutes before the start.
	cl.post("/calls/"+bk.Room+"/token", nil).wantErr(http.StatusUnprocessableEntity, "room_not_open")
	op.post("/sim/clock", map[string]any{"set": start.Add(-5 * time.Minute)}).want(http.StatusOK)
	var tok callTokenView
	ex.post("/calls/"+bk.Room+"/token", nil).want(http.StatusOK).decode(&tok)
	if tok.Token == "" || tok.SignalingURL != "/api/v1/rtc" || len(tok.ICEServers) != 1 || tok.ICEServers[0].Username != "u-"+ex.id {
		t.Fatalf("token %+v", tok)
	}

	presence := func(joined bool, at time.Time) {
		e.anon().post("/internal/presence", map[string]any{"room": bk.Room, "user": ex.id, "joined": joined, "at": at},
			"Authorization", "Bearer "+testSecret).want(http.StatusNoContent)
	}
	presence(true, start.Add(time.Minute))
	presence(false, start.Add(3*time.Minute)) // APT-7: any length counts once the expert joined

	// After the end, the background work settles it: charged.
	op.post("/sim/clock", map[string]any{"set": start.Add(4 * time.Hour)}).want(http.StatusOK)
	var got control.Booking
	cl.get("/bookings/" + bk.ID).want(http.StatusOK).decode(&got)
	if got.Status != control.StatusCompleted || !got.Charged || got.SettledAt.IsZero() {
		t.Fatalf("APT-7: booking after the end %+v", got)
	}
	cl.get("/bookings/" + bk2.ID).want(http.StatusOK).decode(&got)
	if got.Charged || got.RefundedCents != 2000 {
		t.Fatalf("APT-7: expert never joined, client must not be charged: %+v", got)
	}
	var ev control.PresenceReport
	cl.get("/calls/" + bk.Room + "/presence/" + ex.id).want(http.StatusOK).decode(&ev)
	if ev.Total != 2*time.Minute {
		t.Fatalf("presence %+v", ev)
	}

	// CLM-1..4: claim, partial refund larger than paid refused, then a fair one.
	var c control.Claim
	cl.post("/claims", map[string]any{"booking_id": bk.ID, "reason": "the call dropped"}).want(http.StatusCreated).decode(&c)
	ex.get("/claims/" + c.ID).want(http.StatusOK).decode(&c)
	if c.Presence == nil || c.Presence.Total != 2*time.Minute {
		t.Fatalf("CALL-3: the claim shows no presence evidence: %+v", c)
	}
	before := e.snapshot(cl.id, ex.id)
	ex.post("/claims/"+c.ID+"/respond", map[string]any{"kind": "partial_refund", "amount_cents": 2001, "message": "sorry"},
		"Idempotency-Key", "r1").wantErr(http.StatusUnprocessableEntity, "refund_exceeds_paid", "amount_cents")
	ex.post("/claims/"+c.ID+"/respond", map[string]any{"kind": "partial_refund", "amount_cents": -5, "message": "sorry"},
		"Idempotency-Key", "r1").wantErr(http.StatusBadRequest, "negative_amount", "amount_cents")
	assertUnchanged(t, before, e.snapshot(cl.id, ex.id))
	ex.post("/claims/"+c.ID+"/respond", map[string]any{"kind": "partial_refund", "amount_cents": 500, "message": "sorry"},
		"Idempotency-Key", "r2").want(http.StatusOK).decode(&c)
	cl.post("/claims/"+c.ID+"/accept", nil).want(http.StatusOK).decode(&c)
	if c.Status != control.ClaimResolved {
		t.Fatalf("claim %+v", c)
	}
	cl.get("/bookings/" + bk.ID).want(http.StatusOK).decode(&got)
	if got.RefundedCents != 500 {
		t.Fatalf("refunded %d, want 500", got.RefundedCents)
	}
	if err := e.svc.VerifyLedger(t.Context()); err != nil {
		t.Fatal(err)
	}

	// CLM-2: after 72 h the window is closed (clock moved through the API).
	s3 := ex.slot(start.Add(24*time.Hour), 2000)
	bk3 := cl.book(s3.ID)
	presence3 := func(joined bool, at time.Time) {
		e.anon().post("/internal/presence", map[string]any{"room": bk3.Room, "user": ex.id, "joined": joined, "at": at},
			"Authorization", "Bearer "+testSecret).want(http.StatusNoContent)
	}
	presence3(true, s3.Start.Add(time.Minute))
	presence3(false, s3.Start.Add(50*time.Minute))
	op.post("/sim/clock", map[string]any{"set": s3.End.Add(72*time.Hour + time.Minute)}).want(http.StatusOK)
	before = e.snapshot(cl.id, ex.id)
	cl.post("/claims", map[string]any{"booking_id": bk3.ID, "reason": "late"}).
		wantErr(http.StatusUnprocessableEntity, "claim_window_closed")
	assertUnchanged(t, before, e.snapshot(cl.id, ex.id))

	var earn control.Earnings
	ex.get("/experts/" + ex.id + "/earnings").want(http.StatusOK).decode(&earn)
	op.get("/experts/" + ex.id + "/earnings").want(http.StatusOK)
	ex.get("/experts/" + ex.id + "/payouts").want(http.StatusOK)
}

func hasAction(items []control.ActivityItem, id, action string) bool {
	for _, it := range items {
		if it.ID == id {
			for _, a := range it.Actions {
				if a.Name == action {
					return true
				}
			}
		}
	}
	return false
}

// PAY-7: an Idempotency-Key sent again with a different request is refused
// with 422 and moves nothing, on every money-moving route that has a body
// or a target; the original request repeated still gets its first answer.
func TestIdempotency_PAY7_KeyReusedForAnotherRequestIsRefused(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	s1, s2 := ex.slot(t0.Add(72*time.Hour), 2000), ex.slot(t0.Add(96*time.Hour), 3000)
	var first, again control.Booking
	cl.post("/bookings", map[string]any{"slot_id": s1.ID}, "Idempotency-Key", "k1").want(http.StatusCreated).decode(&first)
	before := e.snapshot(cl.id, ex.id)
	cl.post("/bookings", map[string]any{"slot_id": s2.ID}, "Idempotency-Key", "k1").
		wantErr(http.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key")
	cl.post("/bookings", map[string]any{"slot_id": s1.ID, "media": "audio"}, "Idempotency-Key", "k1").
		wantErr(http.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key")
	assertUnchanged(t, before, e.snapshot(cl.id, ex.id))
	if n := len(e.gw.Calls()); n != 1 {
		t.Fatalf("%d gateway calls, want the first charge only", n)
	}
	cl.post("/bookings", map[string]any{"slot_id": s1.ID}, "Idempotency-Key", "k1").want(http.StatusCreated).decode(&again)
	if again.ID != first.ID {
		t.Fatalf("the repeated request got booking %s, want %s", again.ID, first.ID)
	}
	// The second slot is still free for a fresh key.
	cl.post("/bookings", map[string]any{"slot_id": s2.ID}, "Idempotency-Key", "k2").want(http.StatusCreated)

	var ev1, ev2 control.Event
	for i, ev := range []*control.Event{&ev1, &ev2} {
		ex.post("/events", map[string]any{"title": "Workshop", "description": "d", "start": t0.Add(time.Duration(120+24*i) * time.Hour),
			"minutes": 60, "price_cents": 1500, "min_participants": 1, "max_participants": 3}).want(http.StatusCreated).decode(ev)
	}
	cl.post("/events/"+ev1.ID+"/register", nil, "Idempotency-Key", "r").want(http.StatusCreated)
	cl.post("/events/"+ev2.ID+"/register", nil, "Idempotency-Key", "r").
		wantErr(http.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key")
	var got control.Event
	ex.get("/events/" + ev2.ID).want(http.StatusOK).decode(&got)
	if got.Registered != 0 {
		t.Fatalf("the refused registration took a seat: %+v", got)
	}
}
