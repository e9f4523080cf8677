package control_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"
)

// t0 is a Monday, 09:00 in Paris (winter time).
var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

type env struct {
	t     testing.TB
	ctx   context.Context
	db    *bolt.DB
	svc   *control.Service
	clock *control.SimClock
	gw    *control.SandboxGateway
	path  string
	n     atomic.Int64
}

func newEnv(t testing.TB) *env {
	return newEnvSettings(t, control.DefaultSettings())
}

func newEnvSettings(t testing.TB, st control.Settings) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "atlas11.db")
	db, err := bolt.Open(path, bolt.Options{MaxBatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &env{t: t, ctx: context.Background(), db: db, clock: control.NewSimClock(t0),
		gw: control.NewSandboxGateway(), path: path}
	e.svc, err = control.NewService(control.Config{Store: db, Gateway: e.gw, Clock: e.clock,
		Settings: st, CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) uniq() string { return strconv.FormatInt(e.n.Add(1), 10) }

func (e *env) user(role control.Role, name string) control.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.ctx, control.NewUser{Email: strings.ReplaceAll(name, " ", ".") + e.uniq() + "@example.com", Name: name,
		Role: role, PasswordHash: "argon2id$test", TimeZone: "Europe/Paris"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) client(name string) control.User { return e.user(control.RoleClient, name) }

// expert creates an expert with billing details, ready to be paid out.
func (e *env) expert(name string) control.User {
	e.t.Helper()
	u := e.user(control.RoleExpert, name)
	if _, err := e.svc.UpdateProfile(e.ctx, u.ID, control.ProfileUpdate{
		Billing: &control.BillingDetails{HolderName: name, IBAN: "FR7630006000011234567890189"}}); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) operator() control.User {
	e.t.Helper()
	u, err := e.svc.CreateOperator(e.ctx, control.NewUser{Email: "op" + e.uniq() + "@atlas11.example",
		Name: "Operator", PasswordHash: "x"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// slot publishes a one-off video slot at start.
func (e *env) slot(expert control.User, start time.Time, minutes int, price int64) control.Slot {
	e.t.Helper()
	sl, err := e.svc.AddSlot(e.ctx, expert.ID, control.OneOffSlot{Start: start, Minutes: minutes, PriceCents: price,
		Media: []control.MediaKind{control.MediaVideo, control.MediaAudio}})
	if err != nil {
		e.t.Fatal(err)
	}
	return sl
}

func (e *env) book(client control.User, slotID string) control.Booking {
	e.t.Helper()
	b, err := e.svc.Book(e.ctx, client.ID, control.BookRequest{SlotID: slotID, IdempotencyKey: "k" + e.uniq()})
	if err != nil {
		e.t.Fatal(err)
	}
	if b.Status != control.StatusConfirmed {
		e.t.Fatalf("booking status %s, want confirmed", b.Status)
	}
	return b
}

// appointment books a fresh slot of expert at start for client.
func (e *env) appointment(expert, client control.User, start time.Time, price int64) control.Booking {
	e.t.Helper()
	return e.book(client, e.slot(expert, start, 60, price).ID)
}

func (e *env) event(expert control.User, start time.Time, min, max int, price int64) control.Event {
	e.t.Helper()
	ev, err := e.svc.CreateEvent(e.ctx, expert.ID, control.NewEvent{Title: "Workshop", Start: start, Minutes: 60,
		PriceCents: price, MinParticipants: min, MaxParticipants: max})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func (e *env) register(client control.User, eventID string) control.Booking {
	e.t.Helper()
	b, err := e.svc.Register(e.ctx, client.ID, eventID, "r"+e.uniq())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// at moves the clock to t and runs due background work.
func (e *env) at(t time.Time) {
	e.t.Helper()
	if err := e.clock.Set(t); err != nil {
		e.t.Fatal(err)
	}
	e.runDue()
}

func (e *env) runDue() {
	e.t.Helper()
	if _, err := e.svc.RunDue(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) presence(room, user string, joined bool, at time.Time) {
	e.t.Helper()
	if err := e.svc.RecordPresence(e.ctx, control.PresenceEvent{Room: room, User: user, Joined: joined, At: at}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) bookingOf(actor control.User, id string) control.Booking {
	e.t.Helper()
	b, err := e.svc.Booking(e.ctx, actor.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) balances() map[string]int64 {
	e.t.Helper()
	b, err := e.svc.Balances(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// paid is what a client has paid in net (charges minus refunds).
func (e *env) paid(client control.User) int64 {
	return -e.balances()[control.AccountClient(client.ID)]
}

func (e *env) checkLedger() {
	e.t.Helper()
	if err := e.svc.VerifyLedger(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := control.ErrorCode(err); got != code {
		t.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

func wantEq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func mustDur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}
