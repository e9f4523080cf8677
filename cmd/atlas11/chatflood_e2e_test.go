package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"atlas11/control"
	"atlas11/sfu"
)

// sigConn is a raw participant on the binary's signaling WebSocket that
// records what it reads; a paused one reads nothing until resumed.
type sigConn struct {
	ws     *websocket.Conn
	tcp    *net.TCPConn
	resume chan struct{}
	mu     sync.Mutex
	msgs   []sfu.ServerMessage
	err    error
}

func (w *world) dialSignaling(c *client, room string, paused bool) *sigConn {
	w.t.Helper()
	var tok struct {
		Token        string `json:"token"`
		SignalingURL string `json:"signaling_url"`
	}
	mustDo(w.t, c, "POST", "/api/v1/calls/"+room+"/token", nil, &tok)
	s := &sigConn{resume: make(chan struct{})}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok && paused {
			s.tcp = tc
			_ = tc.SetReadBuffer(4096) // the server's writes back up at once
		}
		return conn, err
	}}
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(w.base, "http")+tok.SignalingURL,
		&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		w.t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	w.t.Cleanup(func() { _ = ws.CloseNow() })
	s.ws = ws
	s.send(w.t, sfu.ClientMessage{Type: sfu.TypeJoin, Token: tok.Token, Room: room})
	if !paused {
		close(s.resume)
	}
	go func() {
		<-s.resume
		if s.tcp != nil {
			_ = s.tcp.SetReadBuffer(4 << 20) // recovered: it reads at full speed
		}
		for {
			_, b, err := ws.Read(context.Background())
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				return
			}
			var m sfu.ServerMessage
			_ = json.Unmarshal(b, &m)
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sigConn) send(t *testing.T, m sfu.ClientMessage) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := s.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// count returns how many messages matched, and the read error if the socket ended.
func (s *sigConn) count(match func(sfu.ServerMessage) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if match(m) {
			n++
		}
	}
	return n, s.err
}

func (s *sigConn) wait(t *testing.T, what string, match func(sfu.ServerMessage) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n, err := s.count(match)
		if n > 0 {
			return
		}
		if err != nil {
			t.Fatalf("%s: the socket ended first: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Issue 10, on the real binary: in a live event one guest floods the chat
// beside a guest who reads nothing and the expert. The flooder is refused
// with chat_rate_limited; the expert and the stalled guest keep their call
// and get the next participant's join notice; the metrics count it.
func TestChatFloodE2E_OthersKeepTheirCall(t *testing.T) {
	w := newWorld(t)
	expert, _ := w.user("expert")
	start := w.now().Add(2 * time.Hour).Truncate(time.Minute)
	var ev control.Event
	mustDo(t, expert, "POST", "/api/v1/events", control.NewEvent{Title: "Atelier", Description: "d", Start: start,
		Minutes: 60, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 10}, &ev)
	var guests []*client
	var names []string
	for i := range 3 {
		c, _ := w.user("client")
		if _, err := c.do("POST", "/api/v1/events/"+ev.ID+"/register", nil,
			map[string]string{"Idempotency-Key": fmt.Sprintf("reg-flood-%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
		guests = append(guests, c)
		names = append(names, fmt.Sprintf("client %d", w.n))
	}
	w.advance(2 * time.Hour) // the event starts
	joinOf := func(name string) func(sfu.ServerMessage) bool {
		return func(m sfu.ServerMessage) bool {
			return m.Type == sfu.TypeParticipant && m.Joined && m.Participant != nil && m.Participant.Name == name
		}
	}
	host := w.dialSignaling(expert, ev.ID, false)
	host.wait(t, "expert joined", func(m sfu.ServerMessage) bool { return m.Type == sfu.TypeJoined })
	slow := w.dialSignaling(guests[0], ev.ID, true)
	host.wait(t, "stalled guest's join", joinOf(names[0]))
	flood := w.dialSignaling(guests[1], ev.ID, false)
	flood.wait(t, "flooder joined", func(m sfu.ServerMessage) bool { return m.Type == sfu.TypeJoined })

	text := strings.Repeat("x", 1900)
	const sent = 1000
	began := time.Now()
	chat, _ := json.Marshal(sfu.ClientMessage{Type: sfu.TypeChat, Text: text})
	for range sent {
		// Unchecked: what matters is the others' call, not the flooder's.
		_ = flood.ws.Write(context.Background(), websocket.MessageText, chat)
	}
	// The server reads a socket in order: once a bad layer is answered (on
	// the control lane), the whole flood has been handled.
	_ = flood.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"layer","layer":"x"}`))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n, err := flood.count(func(m sfu.ServerMessage) bool { return m.Type == sfu.TypeError && m.Code == sfu.CodeBadMessage })
		if n > 0 || err != nil {
			break
		}
	}
	close(slow.resume)
	late := w.dialSignaling(guests[2], ev.ID, false)
	late.wait(t, "late guest joined", func(m sfu.ServerMessage) bool { return m.Type == sfu.TypeJoined })
	host.wait(t, "join notice at the expert", joinOf(names[2]))
	slow.wait(t, "join notice at the stalled guest", joinOf(names[2]))
	flood.wait(t, "chat_rate_limited for the flooder", func(m sfu.ServerMessage) bool {
		return m.Type == sfu.TypeError && m.Code == sfu.CodeChatRateLimited
	})
	// At most the burst (10) plus the refill (5/s) while the flood lasted.
	allowed := 10 + int(5*time.Since(began).Seconds()) + 1
	chats, err := host.count(func(m sfu.ServerMessage) bool { return m.Type == sfu.TypeChat })
	if err != nil || chats == 0 || chats > allowed {
		t.Fatalf("expert got %d of %d flooded chats (err %v), want 1..%d: the burst, not the flood", chats, sent, err, allowed)
	}
	_, scrape := get(t, adminOf(t, w.base)+"/metrics")
	if !strings.Contains(scrape, "atlas11_sfu_chat_rate_limited_total") || strings.Contains(scrape, "atlas11_sfu_chat_rate_limited_total 0\n") {
		t.Fatal("/metrics does not count the refused chats")
	}
	if !strings.Contains(scrape, "atlas11_sfu_chat_dropped_total") {
		t.Fatal("/metrics has no atlas11_sfu_chat_dropped_total")
	}
}
