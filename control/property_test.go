package control_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"

	"pgregory.net/rapid"
)

// modelBooking is what the rules say a booking costs, computed without the
// domain: price while active, then the outcome of APT-5/6/7, minus the
// refunds granted through claims.
type modelBooking struct {
	b        control.Booking
	client   int
	owed     int64 // what the client should have paid in the end
	ended    bool  // cancelled or settled
	joinedAt []time.Time
	leftAt   []time.Time
	claimID  string
	ev       *modelEvent // set for event registrations
	lateCxl  bool        // cancelled late by the client
}

// modelEvent applies EVT-5, EVT-6 and EVT-8 to its registrations.
type modelEvent struct {
	e        control.Event
	regs     []*modelBooking
	joinedAt []time.Time
	leftAt   []time.Time
	started  bool
	done     bool // cancelled or settled
}

func (me *modelEvent) expertIn() bool { return len(me.joinedAt) > len(me.leftAt) }

// presence is the expert's total presence within the opening window.
func (me *modelEvent) presence() time.Duration {
	open := me.e.Start.Add(-me.e.Policy.RoomOpensBefore)
	var total time.Duration
	for i, j := range me.joinedAt {
		l := me.e.End
		if i < len(me.leftAt) && me.leftAt[i].Before(l) {
			l = me.leftAt[i]
		}
		if j.Before(open) {
			j = open
		}
		if l.After(j) {
			total += l.Sub(j)
		}
	}
	return total
}

// void makes nobody pay for an event that did not take place, late
// cancellers included.
func (me *modelEvent) void() {
	me.done = true
	for _, r := range me.regs {
		r.ended = true
		r.owed = 0
	}
}

func (m *modelBooking) expertIn() bool { return len(m.joinedAt) > len(m.leftAt) }

// expertJoined applies APT-7 to the recorded presence.
func (m *modelBooking) expertJoined() bool {
	open := m.b.Start.Add(-m.b.Policy.RoomOpensBefore)
	for i, j := range m.joinedAt {
		l := m.b.End
		if i < len(m.leftAt) && m.leftAt[i].Before(l) {
			l = m.leftAt[i]
		}
		if j.Before(open) {
			j = open
		}
		if l.After(j) {
			return true
		}
	}
	return false
}

func TestProperty_PAY7_LedgerInvariantsUnderRandomSequences(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "atlas11-rapid")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		db, err := bolt.Open(filepath.Join(dir, "p.db"), bolt.Options{MaxBatchDelay: time.Millisecond})
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		clock := control.NewSimClock(t0)
		svc, err := control.NewService(control.Config{Store: db, Gateway: control.NewSandboxGateway(), Clock: clock,
			CallSecret: []byte("0123456789abcdef0123456789abcdef")})
		if err != nil {
			rt.Fatal(err)
		}
		mk := func(role control.Role, name string) control.User {
			u, err := svc.CreateUser(ctx, control.NewUser{Email: name + "@example.com", Name: name, Role: role, PasswordHash: "h"})
			if err != nil {
				rt.Fatal(err)
			}
			return u
		}
		experts := []control.User{mk(control.RoleExpert, "e1"), mk(control.RoleExpert, "e2")}
		for _, ex := range experts {
			if _, err := svc.UpdateProfile(ctx, ex.ID, control.ProfileUpdate{Billing: &control.BillingDetails{HolderName: "x", IBAN: "FR7630006000011234567890189"}}); err != nil {
				rt.Fatal(err)
			}
		}
		clients := []control.User{mk(control.RoleClient, "c1"), mk(control.RoleClient, "c2"), mk(control.RoleClient, "c3")}
		op, err := svc.CreateOperator(ctx, control.NewUser{Email: "op@example.com", Name: "op", PasswordHash: "h"})
		if err != nil {
			rt.Fatal(err)
		}
		var books []*modelBooking
		claims := map[string]*modelBooking{}

		var events []*modelEvent
		settle := func() {
			now := clock.Now()
			for _, me := range events {
				if me.done {
					continue
				}
				if !me.started && !now.Before(me.e.Start) {
					me.started = true
					active := 0
					for _, r := range me.regs {
						if !r.ended {
							active++
						}
					}
					if active < me.e.MinParticipants { // EVT-5
						me.void()
						continue
					}
				}
				if !now.Before(me.e.End) {
					if me.presence() < 5*time.Minute { // EVT-6
						me.void()
						continue
					}
					me.done = true
					for _, r := range me.regs {
						r.ended = true
					}
				}
			}
			for _, m := range books {
				if m.ev == nil && !m.ended && !now.Before(m.b.End) {
					m.ended = true
					if !m.expertJoined() {
						m.owed = 0
					}
				}
			}
		}
		pick := func(label string) *modelBooking {
			if len(books) == 0 {
				return nil
			}
			return books[rapid.IntRange(0, len(books)-1).Draw(rt, label)]
		}
		remaining := func(m *modelBooking) int64 {
			b, err := svc.Booking(ctx, op.ID, m.b.ID)
			if err != nil {
				rt.Fatal(err)
			}
			return b.PaidCents - b.RefundedCents
		}
		// Clock jumps, registrations and presence come often enough for
		// events and appointments to reach their end.
		opWeights := []int{0, 0, 1, 2, 3, 3, 4, 4, 4, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10, 10, 11, 11, 11, 12}
		steps := rapid.IntRange(5, 40).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			now := clock.Now()
			switch rapid.SampledFrom(opWeights).Draw(rt, "op") {
			case 0, 1: // book
				ex := rapid.IntRange(0, len(experts)-1).Draw(rt, "expert")
				ci := rapid.IntRange(0, len(clients)-1).Draw(rt, "client")
				start := now.Add(time.Duration(rapid.IntRange(1, 120*4).Draw(rt, "quarters")) * 15 * time.Minute)
				price := int64(rapid.IntRange(1000, 20000).Draw(rt, "price"))
				sl, err := svc.AddSlot(ctx, experts[ex].ID, control.OneOffSlot{Start: start, Minutes: 60, PriceCents: price,
					Media: []control.MediaKind{control.MediaVideo}})
				if err != nil {
					rt.Fatal(err)
				}
				b, err := svc.Book(ctx, clients[ci].ID, control.BookRequest{SlotID: sl.ID})
				if code := control.ErrorCode(err); code == "expert_busy" {
					continue
				} else if err != nil {
					rt.Fatal(err)
				}
				books = append(books, &modelBooking{b: b, client: ci, owed: price})
			case 2: // cancel by client or expert
				m := pick("cancel")
				if m == nil {
					continue
				}
				byExpert := rapid.Bool().Draw(rt, "byExpert") && m.ev == nil
				actor := clients[m.client].ID
				if byExpert {
					actor = m.b.ExpertID
				}
				_, err := svc.CancelBooking(ctx, actor, m.b.ID, "")
				switch {
				case m.ended || !now.Before(m.b.Start):
					if err == nil && !m.ended {
						rt.Fatalf("cancel after start accepted")
					}
				case err != nil:
					rt.Fatal(err)
				default:
					m.ended = true
					if byExpert || !now.After(m.b.Start.Add(-48*time.Hour)) {
						m.owed = 0
					} else {
						m.lateCxl = true
					}
				}
			case 3: // expert joins or leaves
				m := pick("presence")
				if m == nil || m.ev != nil {
					continue
				}
				in := !m.expertIn()
				if err := svc.RecordPresence(ctx, control.PresenceEvent{Room: m.b.Room, User: m.b.ExpertID, Joined: in, At: now}); err != nil {
					rt.Fatal(err)
				}
				if in {
					m.joinedAt = append(m.joinedAt, now)
				} else {
					m.leftAt = append(m.leftAt, now)
				}
			case 4: // clock jump
				d := time.Duration(rapid.IntRange(1, 100*60).Draw(rt, "minutes")) * time.Minute
				if _, err := clock.Advance(d); err != nil {
					rt.Fatal(err)
				}
			case 5: // open a claim
				m := pick("claim")
				if m == nil || m.claimID != "" {
					continue
				}
				settle()
				c, err := svc.OpenClaim(ctx, clients[m.client].ID, m.b.ID, "reason")
				if err == nil {
					m.claimID = c.ID
					claims[c.ID] = m
				} else if k := control.ErrorKind(err); k != control.Rule && k != control.Conflict {
					rt.Fatal(err)
				}
			case 6: // expert responds
				m := pick("respond")
				if m == nil || m.claimID == "" {
					continue
				}
				rem := remaining(m)
				kind := rapid.SampledFrom([]control.ResponseKind{control.RespondFullRefund, control.RespondPartialRefund, control.RespondDecline}).Draw(rt, "kind")
				amt := int64(rapid.IntRange(1, 25000).Draw(rt, "amount"))
				_, err := svc.RespondClaim(ctx, m.b.ExpertID, m.claimID, control.ClaimResponse{Kind: kind, AmountCents: amt, Message: "m"})
				if err == nil {
					switch kind {
					case control.RespondFullRefund:
						m.owed -= rem
					case control.RespondPartialRefund:
						if amt > rem {
							rt.Fatalf("refund %d above remaining %d accepted", amt, rem)
						}
						m.owed -= amt
					}
				} else if code := control.ErrorCode(err); code != "claim_not_open" && code != "refund_exceeds_paid" {
					rt.Fatal(err)
				}
			case 7: // client accepts or rejects
				m := pick("answer")
				if m == nil || m.claimID == "" {
					continue
				}
				var err error
				if rapid.Bool().Draw(rt, "accept") {
					_, err = svc.AcceptClaim(ctx, clients[m.client].ID, m.claimID)
				} else {
					_, err = svc.RejectClaim(ctx, clients[m.client].ID, m.claimID)
				}
				if err != nil && control.ErrorKind(err) != control.Conflict {
					rt.Fatal(err)
				}
			case 8: // operator decides
				m := pick("decide")
				if m == nil || m.claimID == "" {
					continue
				}
				rem := remaining(m)
				amt := int64(rapid.IntRange(0, 25000).Draw(rt, "decision"))
				_, err := svc.DecideClaim(ctx, op.ID, m.claimID, control.ClaimDecision{RefundCents: amt, Message: "d"})
				if err == nil {
					if amt > rem {
						rt.Fatalf("decision %d above remaining %d accepted", amt, rem)
					}
					m.owed -= amt
				} else if code := control.ErrorCode(err); code != "claim_not_escalated" && code != "refund_exceeds_paid" {
					rt.Fatal(err)
				}
			case 9: // expert creates an event
				ex := rapid.IntRange(0, len(experts)-1).Draw(rt, "eventExpert")
				start := now.Add(time.Duration(rapid.IntRange(1, 60*4).Draw(rt, "eventQuarters")) * 15 * time.Minute)
				min := rapid.IntRange(1, 2).Draw(rt, "min")
				ev, err := svc.CreateEvent(ctx, experts[ex].ID, control.NewEvent{Title: "E", Start: start, Minutes: 60,
					PriceCents:      int64(rapid.IntRange(500, 9000).Draw(rt, "eventPrice")),
					MinParticipants: min, MaxParticipants: rapid.IntRange(min, 4).Draw(rt, "max")})
				if control.ErrorCode(err) == "expert_busy" {
					continue
				} else if err != nil {
					rt.Fatal(err)
				}
				events = append(events, &modelEvent{e: ev})
			case 10: // a client registers
				if len(events) == 0 {
					continue
				}
				me := events[rapid.IntRange(0, len(events)-1).Draw(rt, "event")]
				ci := rapid.IntRange(0, len(clients)-1).Draw(rt, "regClient")
				b, err := svc.Register(ctx, clients[ci].ID, me.e.ID, "")
				switch control.ErrorCode(err) {
				case "":
					if me.done || !now.Before(me.e.Start) {
						rt.Fatalf("registration accepted for a closed event")
					}
					m := &modelBooking{b: b, client: ci, owed: b.PriceCents, ev: me}
					me.regs = append(me.regs, m)
					books = append(books, m)
				case "event_full", "already_registered", "event_started", "event_not_open":
				default:
					rt.Fatal(err)
				}
			case 11: // the expert joins or leaves the event call
				if len(events) == 0 {
					continue
				}
				me := events[rapid.IntRange(0, len(events)-1).Draw(rt, "eventPresence")]
				in := !me.expertIn()
				if err := svc.RecordPresence(ctx, control.PresenceEvent{Room: me.e.ID, User: me.e.ExpertID, Joined: in, At: now}); err != nil {
					rt.Fatal(err)
				}
				if in {
					me.joinedAt = append(me.joinedAt, now)
				} else {
					me.leftAt = append(me.leftAt, now)
				}
			case 12: // the expert cancels the event
				if len(events) == 0 {
					continue
				}
				me := events[rapid.IntRange(0, len(events)-1).Draw(rt, "cancelEvent")]
				_, err := svc.CancelEvent(ctx, me.e.ExpertID, me.e.ID, "")
				if err == nil && !me.done {
					if !now.Before(me.e.Start) {
						rt.Fatalf("event cancelled after its start")
					}
					me.void() // EVT-8
				} else if err != nil && control.ErrorCode(err) != "event_started" {
					rt.Fatal(err)
				}
			}
			if _, err := svc.RunDue(ctx); err != nil {
				rt.Fatal(err)
			}
			settle()
			// Invariants after every step.
			if err := svc.VerifyLedger(ctx); err != nil {
				rt.Fatal(err)
			}
			bal, err := svc.Balances(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			for acct, n := range bal {
				if strings.HasSuffix(acct, ":payable") && n < 0 {
					rt.Fatalf("%s is negative: %d", acct, n)
				}
			}
			for ci, c := range clients {
				var want int64
				for _, m := range books {
					if m.client == ci {
						want += m.owed
					}
				}
				if got := -bal[control.AccountClient(c.ID)]; got != want {
					rt.Fatalf("client %d paid %d, rules say %d", ci, got, want)
				}
			}
		}
	})
}
