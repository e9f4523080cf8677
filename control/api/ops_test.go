package api

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"atlas11/control"

	bbolt "go.etcd.io/bbolt"
)

func TestEvents_EVT1_EVT4_EVT8_CreateRegisterCancelThroughHTTP(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	start := t0.Add(96 * time.Hour)
	var ev control.Event
	ex.post("/events", map[string]any{"title": "Workshop", "description": "d", "start": start, "minutes": 90,
		"price_cents": 1500, "min_participants": 1, "max_participants": 3}).want(http.StatusCreated).decode(&ev)

	// EVT-4: of 8 concurrent registrations to 3 seats, exactly 3 succeed.
	clients := make([]*user, 8)
	for i := range clients {
		clients[i] = e.signUp(control.RoleClient)
	}
	codes := make([]int, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { codes[i] = c.post("/events/"+ev.ID+"/register", nil, "Idempotency-Key", "reg").status })
	}
	wg.Wait()
	ok := 0
	for _, st := range codes {
		if st == http.StatusCreated {
			ok++
		} else if st != http.StatusConflict {
			t.Fatalf("status %d", st)
		}
	}
	if ok != 3 {
		t.Fatalf("%d registrations for 3 seats", ok)
	}
	e.anon().get("/events/" + ev.ID).want(http.StatusOK).decode(&ev)
	if ev.Registered != 3 {
		t.Fatalf("registered %d", ev.Registered)
	}
	var evs []control.Event
	e.anon().get("/experts/" + ex.id + "/events").want(http.StatusOK).decode(&evs)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	var regs []control.Booking
	ex.get("/events/" + ev.ID + "/registrations").want(http.StatusOK).decode(&regs)
	if len(regs) != 3 {
		t.Fatalf("registrations %d", len(regs))
	}
	clients[0].get("/events/" + ev.ID + "/registrations").wantDenied()
	other := e.signUp(control.RoleExpert)
	other.post("/events/"+ev.ID+"/cancel", nil, "Idempotency-Key", "c").wantDenied()

	// EVT-8: the expert cancels before the start: everyone refunded.
	ex.post("/events/"+ev.ID+"/cancel", nil, "Idempotency-Key", "c").want(http.StatusOK).decode(&ev)
	if ev.Status != control.EventCancelled {
		t.Fatalf("event %+v", ev)
	}
	ex.get("/events/" + ev.ID + "/registrations").want(http.StatusOK).decode(&regs)
	for _, b := range regs {
		if b.Status != control.StatusCancelled || b.RefundedCents != b.PaidCents || b.Charged {
			t.Fatalf("EVT-8: registration not refunded: %+v", b)
		}
	}
	if err := e.svc.VerifyLedger(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestProfile_ACC2_PublicPageBySlugWithoutBilling(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	var p control.ExpertProfile
	ex.do("PATCH", "/me/profile", map[string]any{"headline": "Tax advice", "slug": "tax-pro",
		"languages": []string{"fr", "en"}, "billing": map[string]any{"holder_name": "X", "iban": "FR7630006000011234567890189"}}).
		want(http.StatusOK).decode(&p)
	if p.Billing == nil || p.Slug != "tax-pro" {
		t.Fatalf("profile %+v", p)
	}
	ex.post("/me/availability-rules", map[string]any{"weekday": 4, "start_time": "09:00", "end_time": "11:00",
		"slot_minutes": 60, "price_cents": 3000, "media": []string{"video", "audio"}}).want(http.StatusCreated)
	var rules []control.AvailabilityRule
	ex.get("/me/availability-rules").want(http.StatusOK).decode(&rules)
	if len(rules) != 1 || rules[0].TimeZone != "Europe/Paris" {
		t.Fatalf("rules %+v", rules)
	}
	r := e.anon().get("/experts/tax-pro").want(http.StatusOK)
	if bytes.Contains(r.body, []byte("FR76")) || bytes.Contains(r.body, []byte("billing")) {
		t.Fatalf("ACC-2: the public page shows billing: %s", r.body)
	}
	var pub control.PublicProfile
	r.decode(&pub)
	if pub.Headline != "Tax advice" || len(pub.Slots) == 0 {
		t.Fatalf("public %+v", pub)
	}
	var slots []control.Slot
	e.anon().get("/experts/" + ex.id + "/slots?from=" + t0.Format(time.RFC3339) + "&to=" + t0.Add(7*24*time.Hour).Format(time.RFC3339)).
		want(http.StatusOK).decode(&slots)
	// Thursday 5 March 2026 09:00 and 10:00 Paris (UTC+1).
	if len(slots) != 2 || !slots[0].Start.Equal(time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("TIME-1 slots %+v", slots)
	}
	e.anon().get("/experts/"+ex.id+"/slots?from="+t0.Add(time.Hour).Format(time.RFC3339)+"&to="+t0.Format(time.RFC3339)).
		wantErr(http.StatusBadRequest, "invalid_range", "to")
	e.anon().get("/experts/nobody").wantErr(http.StatusNotFound, "expert_not_found")
	ex.do("DELETE", "/me/availability-rules/"+rules[0].ID, nil).want(http.StatusNoContent)
}

func TestOperator_ACC3_CLM5_CLM6_EscalateDecideFlagClose(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	start := t0.Add(72 * time.Hour)
	var claims []control.Claim
	for i := range 3 { // CLM-6: three escalations within 90 days flag the expert
		s := ex.slot(start.Add(time.Duration(i)*2*time.Hour), 2000)
		bk := cl.book(s.ID)
		for _, j := range []bool{true, false} {
			at := s.Start.Add(time.Minute)
			if !j {
				at = s.Start.Add(30 * time.Minute)
			}
			e.anon().post("/internal/presence", map[string]any{"room": bk.Room, "user": ex.id, "joined": j, "at": at},
				"Authorization", "Bearer "+testSecret).want(http.StatusNoContent)
		}
		op.post("/sim/clock", map[string]any{"set": s.End.Add(time.Minute)}).want(http.StatusOK)
		var c control.Claim
		cl.post("/claims", map[string]any{"booking_id": bk.ID, "reason": "bad"}).want(http.StatusCreated).decode(&c)
		ex.post("/claims/"+c.ID+"/respond", map[string]any{"kind": "decline", "message": "no"}, "Idempotency-Key", "d"+c.ID).want(http.StatusOK)
		cl.post("/claims/"+c.ID+"/reject", nil).want(http.StatusOK).decode(&c)
		if c.Status != control.ClaimEscalated {
			t.Fatalf("CLM-5: %+v", c)
		}
		claims = append(claims, c)
	}
	var queue []control.Claim
	op.get("/claims").want(http.StatusOK).decode(&queue)
	if len(queue) != 3 {
		t.Fatalf("operator queue %d", len(queue))
	}
	ex.post("/claims/"+claims[0].ID+"/decide", map[string]any{"refund_cents": 100}, "Idempotency-Key", "x").
		wantErr(http.StatusForbidden, "role_required")
	op.post("/claims/"+claims[0].ID+"/decide", map[string]any{"refund_cents": 2001, "message": "too much"}, "Idempotency-Key", "big").
		wantErr(http.StatusUnprocessableEntity, "refund_exceeds_paid")
	var c control.Claim
	op.post("/claims/"+claims[0].ID+"/decide", map[string]any{"refund_cents": 1000, "message": "half"}, "Idempotency-Key", "half").
		want(http.StatusOK).decode(&c)
	if c.Status != control.ClaimDecided || c.DecisionRefund != 1000 {
		t.Fatalf("decided %+v", c)
	}
	var flags []control.Flag
	op.get("/operator/flags").want(http.StatusOK).decode(&flags)
	if len(flags) != 1 || flags[0].ExpertID != ex.id {
		t.Fatalf("CLM-6 flags %+v", flags)
	}

	// ACC-3: closing the expert cancels and refunds future appointments.
	future := ex.slot(op.e.clock.Now().Add(72*time.Hour), 2000)
	fb := cl.book(future.ID)
	op.post("/operator/users/"+ex.id+"/close", nil).want(http.StatusNoContent)
	var got control.Booking
	cl.get("/bookings/" + fb.ID).want(http.StatusOK).decode(&got)
	if got.Status != control.StatusCancelled || got.RefundedCents != got.PaidCents {
		t.Fatalf("ACC-3: %+v", got)
	}
	ex.get("/me").wantErr(http.StatusForbidden, "account_closed")
	if err := e.svc.VerifyLedger(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOperator_EVT2_PAY3_SettingsAndCap(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	var st control.Settings
	op.get("/operator/settings").want(http.StatusOK).decode(&st)
	if st.EventCap != 49 {
		t.Fatalf("settings %+v", st)
	}
	op.do("PATCH", "/operator/settings", map[string]any{"min_prices": map[string]any{"video": 1200, "audio": 800, "chat": 500, "event": 500}}).
		want(http.StatusOK).decode(&st)
	if st.MinPrices.Video != 1200 {
		t.Fatalf("settings %+v", st)
	}
	ex.post("/me/slots", map[string]any{"start": t0.Add(72 * time.Hour), "minutes": 60, "price_cents": 1100, "media": []string{"video"}}).
		wantErr(http.StatusUnprocessableEntity, "price_below_minimum", "price_cents")
	op.do("PATCH", "/operator/settings", map[string]any{"event_cap": 50}).wantErr(http.StatusBadRequest, "invalid_setting", "event_cap")
	op.do("PUT", "/operator/experts/"+ex.id+"/event-cap", map[string]any{"event_cap": 50}).
		wantErr(http.StatusUnprocessableEntity, "cap_over_media_max", "event_cap")
	op.do("PUT", "/operator/experts/"+ex.id+"/event-cap", map[string]any{"event_cap": 10}).want(http.StatusNoContent)
	var p control.ExpertProfile
	op.get("/operator/experts/" + ex.id + "/profile").want(http.StatusOK).decode(&p)
	if p.EventCap != 10 {
		t.Fatalf("profile %+v", p)
	}
}

func TestOperator_BackupIsAValidBboltFile(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	r := op.get("/operator/backup").want(http.StatusOK)
	if !strings.Contains(r.header.Get("Content-Disposition"), "attachment") || len(r.body) < 4096 {
		t.Fatalf("backup: %v, %d bytes", r.header, len(r.body))
	}
	path := t.TempDir() + "/copy.db"
	if err := writeFile(path, r.body); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("users")) == nil {
			t.Error("the backup has no users bucket")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.signUp(control.RoleExpert).get("/operator/backup").wantErr(http.StatusForbidden, "role_required")
}

func TestMetrics_LowCardinalityRouteTemplates(t *testing.T) {
	e := newEnv(t)
	u := e.anon()
	for _, id := range []string{"a", "b", "c"} {
		u.get("/events/" + id)
	}
	u.get("/nope/" + "x")
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "atlas11_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if strings.Contains(labels["route"], "/events/a") {
				t.Fatalf("raw path as a label: %v", labels)
			}
			if labels["route"] == "/api/v1/events/:id" && labels["class"] == "4xx" && m.GetCounter().GetValue() == 3 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no request counter by route template and status class")
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// TestEvents_EVT6_ExpertUnderFiveMinutesNobodyCharged drives the five-minute
// rule from presence reported through the internal endpoint.
func TestEvents_EVT6_ExpertUnderFiveMinutesNobodyCharged(t *testing.T) {
	for _, c := range []struct {
		name    string
		present time.Duration
		charged bool
	}{{"present 4m59s", 4*time.Minute + 59*time.Second, false}, {"6m present", 6 * time.Minute, true}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			op := e.operator()
			ex := e.signUp(control.RoleExpert)
			start := t0.Add(72 * time.Hour)
			var ev control.Event
			ex.post("/events", map[string]any{"title": "W", "start": start, "minutes": 60, "price_cents": 1500,
				"min_participants": 1, "max_participants": 5}).want(http.StatusCreated).decode(&ev)
			cl := e.signUp(control.RoleClient)
			var reg control.Booking
			cl.post("/events/"+ev.ID+"/register", nil, "Idempotency-Key", "r").want(http.StatusCreated).decode(&reg)
			for _, p := range []struct {
				joined bool
				at     time.Time
			}{{true, start.Add(10 * time.Minute)}, {false, start.Add(10*time.Minute + c.present)}} {
				e.anon().post("/internal/presence", map[string]any{"room": reg.Room, "user": ex.id, "joined": p.joined, "at": p.at},
					"Authorization", "Bearer "+testSecret).want(http.StatusNoContent)
			}
			op.post("/sim/clock", map[string]any{"set": start.Add(2 * time.Hour)}).want(http.StatusOK)
			var got control.Booking
			cl.get("/bookings/" + reg.ID).want(http.StatusOK).decode(&got)
			if got.Charged != c.charged || (got.RefundedCents == got.PaidCents) == c.charged {
				t.Fatalf("EVT-6 with the expert present %v: %+v", c.present, got)
			}
		})
	}
}
