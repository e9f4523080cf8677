package control_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"atlas11/control"
)

// APT-3: of 200 concurrent bookings of one slot, exactly one succeeds.
func TestBook_APT3_TwoHundredConcurrentBookingsExactlyOne(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	sl := e.slot(ex, t0.Add(72*time.Hour), 60, 5000)
	clients := make([]control.User, 200)
	for i := range clients {
		clients[i] = e.client("c")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.svc.Book(e.ctx, clients[i].ID, control.BookRequest{SlotID: sl.ID, IdempotencyKey: "k"})
			mu.Lock()
			defer mu.Unlock()
			switch control.ErrorCode(err) {
			case "":
				ok++
			case "slot_taken":
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	wantEq(t, "successful bookings", ok, 1)
	wantEq(t, "charges", len(e.gw.Calls()), 1)
	e.checkLedger()
}

func TestCalls_CALL1_OnlyPartiesInsideTheOpeningWindow(t *testing.T) {
	e := newEnv(t)
	ex, cl, eve := e.expert("Ana"), e.client("Bob"), e.client("Eve")
	b := e.appointment(ex, cl, t0.Add(5*time.Hour), 5000)
	e.at(b.Start.Add(-11 * time.Minute))
	_, err := e.svc.MintCallToken(e.ctx, cl.ID, b.Room)
	wantCode(t, err, "room_not_open")
	e.at(b.Start.Add(-10 * time.Minute))
	_, err = e.svc.MintCallToken(e.ctx, eve.ID, b.Room)
	wantCode(t, err, "not_a_participant")
	tok, err := e.svc.MintCallToken(e.ctx, cl.ID, b.Room)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "role", tok.Grant.Role, "client")
	wantEq(t, "media", tok.Grant.Media, control.MediaVideo)
	g, err := e.svc.AdmitCall(e.ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "admitted user", g.UserID, cl.ID)
	et, err := e.svc.MintCallToken(e.ctx, ex.ID, b.Room)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "expert role", et.Grant.Role, "expert")
	// Tampering breaks the signature; time expires the token.
	bad := strings.Replace(tok.Token, tok.Token[5:6], string(rune(tok.Token[5]^1)), 1)
	_, err = e.svc.AdmitCall(e.ctx, bad)
	wantCode(t, err, "token_invalid")
	_, err = e.svc.AdmitCall(e.ctx, "garbage")
	wantCode(t, err, "token_invalid")
	e.at(tok.ExpiresAt)
	_, err = e.svc.AdmitCall(e.ctx, tok.Token)
	wantCode(t, err, "token_expired")
	// After the scheduled end the room is closed.
	e.at(b.End)
	_, err = e.svc.MintCallToken(e.ctx, ex.ID, b.Room)
	wantCode(t, err, "room_not_open")

	// A token of a user whose account is then closed is refused.
	b2 := e.appointment(ex, cl, e.clock.Now().Add(5*time.Hour), 5000)
	e.at(b2.Start)
	tok2, err := e.svc.MintCallToken(e.ctx, cl.ID, b2.Room)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CloseAccount(e.ctx, e.operator().ID, cl.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.AdmitCall(e.ctx, tok2.Token)
	wantCode(t, err, "account_closed")

	// Events: only registered clients and the expert.
	ev := e.event(ex, e.clock.Now().Add(5*time.Hour), 1, 10, 2000)
	reg := e.client("Reg")
	e.register(reg, ev.ID)
	e.at(ev.Start)
	_, err = e.svc.MintCallToken(e.ctx, eve.ID, ev.ID)
	wantCode(t, err, "not_a_participant")
	if _, err := e.svc.MintCallToken(e.ctx, reg.ID, ev.ID); err != nil {
		t.Fatal(err)
	}
}

func TestPresence_CALL3_IntervalsMergedAndShownOnClaims(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(5*time.Hour), 5000)
	s := b.Start
	e.presence(b.Room, ex.ID, false, s.Add(-time.Minute)) // leave without join: ignored
	e.presence(b.Room, ex.ID, true, s)                    // two tabs overlap
	e.presence(b.Room, ex.ID, true, s.Add(5*time.Minute))
	e.presence(b.Room, ex.ID, false, s.Add(10*time.Minute))
	e.presence(b.Room, ex.ID, false, s.Add(20*time.Minute))
	e.presence(b.Room, ex.ID, true, s.Add(30*time.Minute))
	e.presence(b.Room, ex.ID, false, s.Add(40*time.Minute))
	e.presence(b.Room, cl.ID, true, s) // still connected at the end
	e.at(b.End.Add(time.Minute))
	r, err := e.svc.Presence(e.ctx, cl.ID, b.Room, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "intervals", len(r.Intervals), 2)
	wantEq(t, "total", r.Total, 30*time.Minute)
	_, err = e.svc.Presence(e.ctx, e.client("Eve").ID, b.Room, ex.ID)
	wantCode(t, err, "room_not_found")
	c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "cut short")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "evidence", c.Presence == nil, true) // filled on read
	c, _ = e.svc.Claim(e.ctx, cl.ID, c.ID)
	wantEq(t, "evidence total", c.Presence.Total, 30*time.Minute)
	wantCode(t, e.svc.RecordPresence(e.ctx, control.PresenceEvent{User: ex.ID}), "invalid_room")
}

func TestRunDue_IdempotentAndRestartSafe(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(5*time.Hour), 5000)
	e.presence(b.Room, ex.ID, true, b.Start)
	if err := e.clock.Set(b.End.Add(80 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.RunDue(e.ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A fresh service on the same file (a restart) finds nothing left to do.
	svc, err := control.NewService(control.Config{Store: e.db, Gateway: e.gw, Clock: e.clock,
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc.RunDue(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "jobs after restart", n, 0)
	bal := e.balances()
	wantEq(t, "payable once", bal[control.AccountExpertPayable(ex.ID)], 4500)
	wantEq(t, "platform once", bal[control.AccountPlatformRevenue], 500)
	e.checkLedger()
}
