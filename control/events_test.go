package control_test

import (
	"sync"
	"testing"
	"time"

	"atlas11/control"
)

func TestCreateEvent_EVT1_FieldsStored(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	start := t0.Add(72 * time.Hour)
	ev, err := e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "Go workshop", Description: "Hands on",
		Start: start, Minutes: 90, PriceCents: 2500, MinParticipants: 3, MaxParticipants: 20})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Event(e.ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "title", got.Title, "Go workshop")
	wantEq(t, "end", got.End, start.Add(90*time.Minute))
	wantEq(t, "min", got.MinParticipants, 3)
	wantEq(t, "max", got.MaxParticipants, 20)
	_, err = e.svc.CreateEvent(e.ctx, e.client("Bob").ID, control.NewEvent{Title: "x", Start: start.Add(5 * time.Hour),
		Minutes: 60, PriceCents: 2500, MinParticipants: 1, MaxParticipants: 2})
	wantCode(t, err, "role_forbidden")
}

func TestCreateEvent_EVT2_MinMaxAndCap(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	op := e.operator()
	mk := func(min, max int, hour int) error {
		_, err := e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "T", Start: t0.Add(time.Duration(48+hour) * time.Hour),
			Minutes: 30, PriceCents: 2000, MinParticipants: min, MaxParticipants: max})
		return err
	}
	wantCode(t, mk(0, 5, 1), "invalid_participants")
	wantCode(t, mk(6, 5, 2), "invalid_participants")
	wantCode(t, mk(1, 50, 3), "max_over_cap")
	wantCode(t, mk(1, 49, 4), "")
	wantCode(t, mk(49, 49, 5), "")
	// An operator lowers this expert's cap...
	if err := e.svc.SetExpertEventCap(e.ctx, op.ID, ex.ID, 10); err != nil {
		t.Fatal(err)
	}
	wantCode(t, mk(1, 11, 6), "max_over_cap")
	// ... but can never raise it above the media server maximum.
	wantCode(t, e.svc.SetExpertEventCap(e.ctx, op.ID, ex.ID, 50), "cap_over_media_max")
	wantCode(t, e.svc.SetExpertEventCap(e.ctx, ex.ID, ex.ID, 20), "role_forbidden")
	// With a larger media server, an operator may raise it for one expert.
	st := control.DefaultSettings()
	st.MediaServerMax = 100
	e2 := newEnvSettings(t, st)
	ex2, op2 := e2.expert("Ana"), e2.operator()
	_, err := e2.svc.CreateEvent(e2.ctx, ex2.ID, control.NewEvent{Title: "T", Start: t0.Add(50 * time.Hour),
		Minutes: 30, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 80})
	wantCode(t, err, "max_over_cap")
	if err := e2.svc.SetExpertEventCap(e2.ctx, op2.ID, ex2.ID, 80); err != nil {
		t.Fatal(err)
	}
	_, err = e2.svc.CreateEvent(e2.ctx, ex2.ID, control.NewEvent{Title: "T", Start: t0.Add(50 * time.Hour),
		Minutes: 30, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 80})
	wantCode(t, err, "")
}

func TestCreateEvent_EVT3_FixedPriceAtLeastMinimum(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	min := control.DefaultSettings().MinPrices.Event
	_, err := e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "T", Start: t0.Add(50 * time.Hour),
		Minutes: 30, PriceCents: min - 1, MinParticipants: 1, MaxParticipants: 5})
	wantCode(t, err, "price_below_minimum")
	// The price does not depend on duration.
	long := e.event(ex, t0.Add(60*time.Hour), 1, 5, 3000)
	cl := e.client("Bob")
	b := e.register(cl, long.ID)
	wantEq(t, "price", b.PriceCents, 3000)
	_, err = e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "T", Start: t0.Add(-time.Hour),
		Minutes: 30, PriceCents: 3000, MinParticipants: 1, MaxParticipants: 5})
	wantCode(t, err, "time_in_past")
}

func TestRegister_EVT4_NeverExceedsMaxUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	ev := e.event(ex, t0.Add(72*time.Hour), 1, 49, 1500)
	clients := make([]control.User, 150)
	for i := range clients {
		clients[i] = e.client("c")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Register(e.ctx, clients[i].ID, ev.ID, "k")
			mu.Lock()
			defer mu.Unlock()
			switch control.ErrorCode(err) {
			case "":
				ok++
			case "event_full":
				full++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	wantEq(t, "registered", ok, 49)
	wantEq(t, "refused", full, 101)
	got, _ := e.svc.Event(e.ctx, ev.ID)
	wantEq(t, "event count", got.Registered, 49)
	charges := 0
	for _, c := range e.gw.Calls() {
		if c.Op == "charge" {
			charges++
		}
	}
	wantEq(t, "charges", charges, 49)
	// A client registers once.
	_, err := e.svc.Register(e.ctx, clients[0].ID, ev.ID, "other")
	if code := control.ErrorCode(err); code != "already_registered" && code != "event_full" {
		t.Fatalf("got %v", err)
	}
	e.checkLedger()
}

func TestEventStart_EVT5_UnderMinimumCancelledNobodyCharged(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	ev := e.event(ex, t0.Add(72*time.Hour), 3, 10, 1500)
	a, b := e.client("A"), e.client("B")
	e.register(a, ev.ID)
	e.register(b, ev.ID)
	e.at(ev.Start)
	got, _ := e.svc.Event(e.ctx, ev.ID)
	wantEq(t, "status", got.Status, control.EventCancelled)
	wantEq(t, "outcome", got.Outcome, "under_minimum")
	wantEq(t, "a paid", e.paid(a), 0)
	wantEq(t, "b paid", e.paid(b), 0)
	// Enough participants: it goes ahead.
	ev2 := e.event(ex, t0.Add(96*time.Hour), 2, 10, 1500)
	e.register(a, ev2.ID)
	e.register(b, ev2.ID)
	e.at(ev2.Start)
	got, _ = e.svc.Event(e.ctx, ev2.ID)
	wantEq(t, "status", got.Status, control.EventScheduled)
	e.checkLedger()
}

func TestEventEnd_EVT6_FiveMinuteRule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present []time.Duration // join/leave offsets from start, pairs
		charged bool
	}{
		{"Absent", nil, false},
		{"FourMinutesInTwoVisits", []time.Duration{0, 2 * time.Minute, 10 * time.Minute, 12 * time.Minute}, false},
		{"FiveMinutesInTwoVisits", []time.Duration{0, 2 * time.Minute, 10 * time.Minute, 13 * time.Minute}, true},
		{"WholeEvent", []time.Duration{-5 * time.Minute, 60 * time.Minute}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ex := e.expert("Ana")
			ev := e.event(ex, t0.Add(72*time.Hour), 1, 10, 2000)
			a, b := e.client("A"), e.client("B")
			e.register(a, ev.ID)
			e.register(b, ev.ID)
			for i := 0; i+1 < len(tc.present); i += 2 {
				e.presence(ev.ID, ex.ID, true, ev.Start.Add(tc.present[i]))
				e.presence(ev.ID, ex.ID, false, ev.Start.Add(tc.present[i+1]))
			}
			e.at(ev.End)
			want := int64(0)
			if tc.charged {
				want = 2000
			}
			wantEq(t, "a paid", e.paid(a), want)
			wantEq(t, "b paid", e.paid(b), want)
			got, _ := e.svc.Event(e.ctx, ev.ID)
			wantEq(t, "status", got.Status, control.EventCompleted)
			e.checkLedger()
		})
	}
}

func TestCalls_EVT7_OnlyEventsConnectMoreThanTwo(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(time.Hour), 5000)
	ev := e.event(ex, t0.Add(3*time.Hour), 1, 30, 2000)
	e.register(cl, ev.ID)
	e.at(b.Start)
	tok, err := e.svc.MintCallToken(e.ctx, cl.ID, b.Room)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "appointment capacity", tok.Grant.Capacity, 2)
	e.at(ev.Start)
	tok, err = e.svc.MintCallToken(e.ctx, cl.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "event capacity", tok.Grant.Capacity, 31)
}

func TestCancelEvent_EVT8_ExpertRefundsAllClientFollowsAPT6(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	ev := e.event(ex, t0.Add(100*time.Hour), 1, 10, 2000)
	a, b, c := e.client("A"), e.client("B"), e.client("C")
	ra := e.register(a, ev.ID)
	rb := e.register(b, ev.ID)
	e.register(c, ev.ID)
	// a cancels early: refunded. b cancels late: charged.
	if _, err := e.svc.CancelBooking(e.ctx, a.ID, ra.ID, "x"); err != nil {
		t.Fatal(err)
	}
	e.at(ev.Start.Add(-time.Hour))
	if _, err := e.svc.CancelBooking(e.ctx, b.ID, rb.ID, "x"); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "a paid", e.paid(a), 0)
	wantEq(t, "b paid", e.paid(b), 2000)
	// The expert cancels the event: the remaining registration is refunded.
	_, err := e.svc.CancelEvent(e.ctx, e.expert("Other").ID, ev.ID, "x")
	wantCode(t, err, "event_not_found")
	got, err := e.svc.CancelEvent(e.ctx, ex.ID, ev.ID, "x")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", got.Status, control.EventCancelled)
	wantEq(t, "c paid", e.paid(c), 0)
	// The event does not take place: the late canceller is refunded too.
	wantEq(t, "b refunded", e.paid(b), 0)
	_, err = e.svc.Register(e.ctx, e.client("D").ID, ev.ID, "")
	wantCode(t, err, "event_not_open")
	e.checkLedger()
}

func TestRuntimeSettings_EVT2_OperatorCapPersistsAcrossRestart(t *testing.T) {
	e := newEnv(t)
	ex, op := e.expert("Ana"), e.operator()
	capTen := 10
	_, err := e.svc.UpdateRuntimeSettings(e.ctx, ex.ID, control.RuntimeSettings{EventCap: &capTen})
	wantCode(t, err, "role_forbidden")
	tooBig := 50
	_, err = e.svc.UpdateRuntimeSettings(e.ctx, op.ID, control.RuntimeSettings{EventCap: &tooBig})
	wantCode(t, err, "invalid_setting")
	if _, err := e.svc.UpdateRuntimeSettings(e.ctx, op.ID, control.RuntimeSettings{EventCap: &capTen}); err != nil {
		t.Fatal(err)
	}
	svc, err := control.NewService(control.Config{Store: e.db, Gateway: e.gw, Clock: e.clock,
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "cap after restart", svc.Settings().EventCap, 10)
	_, err = svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "T", Start: t0.Add(50 * time.Hour),
		Minutes: 30, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 11})
	wantCode(t, err, "max_over_cap")
}
