package control_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"atlas11/control"
)

// TestDeps_ControlImportsOnlyTheStandardLibrary holds the architecture line.
func TestDeps_ControlImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard", "atlas11/control").Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Standard   bool
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if !p.Standard && p.ImportPath != "atlas11/control" {
			t.Errorf("control depends on %s", p.ImportPath)
		}
	}
}

// flakyGateway fails calls while down, like a provider outage.
type flakyGateway struct {
	*control.SandboxGateway
	down atomic.Bool
}

var errOutage = &control.Error{Kind: control.Internal, Code: "gateway_down", Message: "provider unavailable"}

func (g *flakyGateway) Charge(ctx context.Context, r control.ChargeRequest) (control.GatewayResult, error) {
	if g.down.Load() {
		return control.GatewayResult{}, errOutage
	}
	return g.SandboxGateway.Charge(ctx, r)
}

func (g *flakyGateway) Refund(ctx context.Context, r control.RefundRequest) (control.GatewayResult, error) {
	if g.down.Load() {
		return control.GatewayResult{}, errOutage
	}
	return g.SandboxGateway.Refund(ctx, r)
}

func TestGatewayOutage_PAY7_HoldsAndRefundsRetriedExactlyOnce(t *testing.T) {
	e := newEnv(t)
	gw := &flakyGateway{SandboxGateway: e.gw}
	svc, err := control.NewService(control.Config{Store: e.db, Gateway: gw, Clock: e.clock,
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	ex, cl := e.expert("Ana"), e.client("Bob")
	sl := e.slot(ex, t0.Add(100*time.Hour), 60, 5000)
	gw.down.Store(true)
	b, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, IdempotencyKey: "k"})
	wantCode(t, err, "payment_unavailable")
	// The slot stays held while the outcome is unknown.
	_, err = e.svc.Book(e.ctx, e.client("Cy").ID, control.BookRequest{SlotID: sl.ID})
	wantCode(t, err, "slot_taken")
	gw.down.Store(false)
	e.at(t0.Add(20 * time.Minute)) // hold timeout: RunDue retries the charge with the same key
	got := e.bookingOf(cl, b.ID)
	wantEq(t, "confirmed by RunDue", got.Status, control.StatusConfirmed)
	wantEq(t, "paid", e.paid(cl), 5000)

	// A refund during an outage is recorded in the ledger and sent later, once.
	gw.down.Store(true)
	if _, err := e.svc.CancelBooking(e.ctx, cl.ID, b.ID, "c"); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "ledger refunded", e.paid(cl), 0)
	refunds := func() int {
		n := 0
		for _, c := range e.gw.Calls() {
			if c.Op == "refund" {
				n++
			}
		}
		return n
	}
	wantEq(t, "refunds sent during outage", refunds(), 0)
	gw.down.Store(false)
	e.runDue()
	e.runDue()
	wantEq(t, "refunds sent after", refunds(), 1)
	e.checkLedger()
}

func TestBadInput_NothingStoredNoPanic(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	before, _ := e.svc.Journal(e.ctx)
	for _, err := range []error{
		func() error { _, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{}); return err }(),
		func() error {
			_, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: "nope.zz"})
			return err
		}(),
		func() error {
			_, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: "x", Media: "smoke"})
			return err
		}(),
		func() error {
			_, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{Weekday: 9})
			return err
		}(),
		func() error {
			_, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{StartTime: "25:00", EndTime: "26:00"})
			return err
		}(),
		func() error {
			_, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{StartTime: "09:00", EndTime: "10:00",
				SlotMinutes: 30, PriceCents: 5000, Media: []control.MediaKind{"video"}, TimeZone: "Moon/Base"})
			return err
		}(),
		func() error {
			_, err := e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "x", Start: t0.Add(time.Hour), Minutes: 30,
				PriceCents: 1 << 62, MinParticipants: 1, MaxParticipants: 2})
			return err
		}(),
		func() error { _, err := e.svc.OpenClaim(e.ctx, cl.ID, "nope", "r"); return err }(),
		func() error {
			_, err := e.svc.AddSlot(e.ctx, ex.ID, control.OneOffSlot{Start: t0.Add(time.Hour), Minutes: 1 << 50,
				PriceCents: 5000, Media: []control.MediaKind{"video"}})
			return err
		}(),
		func() error { _, err := e.svc.AdmitCall(e.ctx, "a.b.c"); return err }(),
		func() error { _, err := e.svc.SessionUser(e.ctx, ""); return err }(),
	} {
		if err == nil {
			t.Fatal("bad input accepted")
		}
		if k := control.ErrorKind(err); k == control.Internal {
			t.Fatalf("bad input gave an internal error: %v", err)
		}
	}
	after, _ := e.svc.Journal(e.ctx)
	wantEq(t, "journal untouched", len(after), len(before))
	rules, _ := e.svc.AvailabilityRules(e.ctx, ex.ID)
	wantEq(t, "no rule stored", len(rules), 0)
}
