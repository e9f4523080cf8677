package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"atlas11/control"
	"atlas11/sfu"
)

// world is a running binary with the simulation clock and an operator.
type world struct {
	t        *testing.T
	base     string
	operator *client
	n        int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "operator password 1"
		}
		return ""
	}
	if err := run(context.Background(), []string{"operator", "create", "--email", "ops@e2e.test", "--name", "Ops", "--data", dir},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, base: startServerIn(t, dir, "--clock", "sim")}
	w.operator = newClient(w.base)
	mustDo(t, w.operator, "POST", "/api/v1/auth/signin", map[string]any{"email": "ops@e2e.test", "password": "operator password 1"}, nil)
	return w
}

func (w *world) user(role string) (*client, string) {
	w.t.Helper()
	w.n++
	c := newClient(w.base)
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	mustDo(w.t, c, "POST", "/api/v1/auth/signup", map[string]any{
		"email": fmt.Sprintf("%s%d@e2e.test", role, w.n), "password": "correct horse battery", "name": fmt.Sprintf("%s %d", role, w.n), "role": role, "time_zone": "Europe/Paris"}, &me)
	return c, me.User.ID
}

func (w *world) now() time.Time {
	w.t.Helper()
	var v struct {
		Now time.Time `json:"now"`
	}
	mustDo(w.t, w.operator, "GET", "/api/v1/sim/clock", nil, &v)
	return v.Now
}

// advance moves the simulated time; the API runs the work then due.
func (w *world) advance(d time.Duration) {
	w.t.Helper()
	mustDo(w.t, w.operator, "POST", "/api/v1/sim/clock", map[string]any{"advance": d.String()}, nil)
}

// joinCall takes a call token and joins the room over the real signaling
// WebSocket; the returned func leaves and waits until the leave is on record.
func (w *world) joinCall(c *client, userID, room string) func() {
	w.t.Helper()
	var tok struct {
		Token        string `json:"token"`
		SignalingURL string `json:"signaling_url"`
	}
	mustDo(w.t, c, "POST", "/api/v1/calls/"+room+"/token", nil, &tok)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.base, "http")+tok.SignalingURL, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	send := func(m sfu.ClientMessage) {
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			w.t.Fatal(err)
		}
	}
	send(sfu.ClientMessage{Type: sfu.TypeJoin, Token: tok.Token, Room: room})
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			w.t.Fatalf("join %s: %v", room, err)
		}
		var m sfu.ServerMessage
		_ = json.Unmarshal(data, &m)
		if m.Type == sfu.TypeError {
			w.t.Fatalf("join refused: %s %s", m.Code, m.Message)
		}
		if m.Type == sfu.TypeJoined {
			break
		}
	}
	// Keep reading so the server's writes never block on this client.
	rctx, stopRead := context.WithCancel(context.Background())
	go func() {
		for rctx.Err() == nil {
			if _, _, err := ws.Read(rctx); err != nil {
				return
			}
		}
	}()
	return func() {
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, _ := json.Marshal(sfu.ClientMessage{Type: sfu.TypeLeave})
		_ = ws.Write(lctx, websocket.MessageText, b)
		stopRead()
		_ = ws.Close(websocket.StatusNormalClosure, "bye")
		w.waitLeft(userID, room)
	}
}

// waitLeft nudges the clock by a second at a time until the user's last
// presence interval has closed: the leave travels through the SFU and a
// queue, and its instant is the simulated time when the SFU handles it.
func (w *world) waitLeft(userID, room string) {
	w.t.Helper()
	for range 50 {
		w.advance(time.Second)
		var r control.PresenceReport
		mustDo(w.t, w.operator, "GET", "/api/v1/calls/"+room+"/presence/"+userID, nil, &r)
		if n := len(r.Intervals); n > 0 && r.Intervals[n-1].To.Before(r.Until) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("leave of %s from %s never recorded", userID, room)
}

// waitBooking polls a booking until cond holds: presence reaches the store
// through a queue, and settlement runs in the background.
func (w *world) waitBooking(c *client, id string, cond func(control.Booking) bool) control.Booking {
	w.t.Helper()
	var b control.Booking
	for i := 0; i < 100; i++ {
		mustDo(w.t, c, "GET", "/api/v1/bookings/"+id, nil, &b)
		if cond(b) {
			return b
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("booking %s never reached the expected state: %+v", id, b)
	return b
}

func settled(b control.Booking) bool {
	return b.Status == control.StatusCompleted || b.Status == control.StatusCancelled
}

// The five-minute rule end to end (EVT-6, CALL-3): the expert's presence
// comes from the media server's signaling, on the simulated clock.
func TestPresenceE2E_EVT6_FiveMinuteRuleFromTheMediaServer(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name    string
		present time.Duration
		charged bool
	}{
		{"4 minutes: nobody charged", 4 * time.Minute, false},
		{"6 minutes: everyone charged", 6 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expert, expertID := w.user("expert")
			start := w.now().Add(2 * time.Hour).Truncate(time.Minute)
			var ev control.Event
			mustDo(t, expert, "POST", "/api/v1/events", control.NewEvent{Title: "Atelier", Description: "d", Start: start,
				Minutes: 30, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 10}, &ev)
			type reg struct {
				c  *client
				id string
			}
			var regs []reg
			var guestID string
			for i := range 3 {
				c, id := w.user("client")
				if i == 0 {
					guestID = id
				}
				var b control.Booking
				if _, err := c.do("POST", "/api/v1/events/"+ev.ID+"/register", nil,
					map[string]string{"Idempotency-Key": fmt.Sprintf("reg-%s-%d", ev.ID, i)}, &b); err != nil {
					t.Fatal(err)
				}
				regs = append(regs, reg{c, b.ID})
			}
			w.advance(2 * time.Hour) // the event starts
			leave := w.joinCall(expert, expertID, ev.ID)
			guestLeave := w.joinCall(regs[0].c, guestID, ev.ID)
			w.advance(tc.present)
			leave()
			guestLeave()
			w.advance(time.Hour) // past the end: settlement runs
			for _, r := range regs {
				b := w.waitBooking(r.c, r.id, settled)
				if b.Charged != tc.charged {
					t.Fatalf("registration %s: charged=%v after the expert was present %s (status %s, refunded %d)",
						r.id, b.Charged, tc.present, b.Status, b.RefundedCents)
				}
				if !tc.charged && b.RefundedCents != b.PaidCents {
					t.Fatalf("uncharged registration refunded %d of %d", b.RefundedCents, b.PaidCents)
				}
			}
		})
	}
}

// APT-7 end to end: an expert who joined the 1:1 call earns the full price
// whatever its length; one who never joined earns nothing.
func TestPresenceE2E_APT7_ExpertJoinedOrNot(t *testing.T) {
	w := newWorld(t)
	for _, joined := range []bool{true, false} {
		t.Run(fmt.Sprintf("joined=%v", joined), func(t *testing.T) {
			expert, expertID := w.user("expert")
			c, _ := w.user("client")
			start := w.now().Add(3 * time.Hour).Truncate(time.Minute)
			var slot control.Slot
			mustDo(t, expert, "POST", "/api/v1/me/slots", control.OneOffSlot{Start: start, Minutes: 45, PriceCents: 3000,
				Media: []control.MediaKind{control.MediaVideo}}, &slot)
			var b control.Booking
			if _, err := c.do("POST", "/api/v1/bookings", map[string]any{"slot_id": slot.ID},
				map[string]string{"Idempotency-Key": "book-" + slot.ID}, &b); err != nil {
				t.Fatal(err)
			}
			w.advance(3 * time.Hour)
			if joined {
				leave := w.joinCall(expert, expertID, b.Room)
				w.advance(2 * time.Minute) // a very short call still costs the full price
				leave()
			}
			w.advance(time.Hour)
			got := w.waitBooking(c, b.ID, settled)
			if got.Charged != joined {
				t.Fatalf("expert joined=%v: charged=%v (status %s)", joined, got.Charged, got.Status)
			}
		})
	}
}
