package sfu

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// slowClient joins and then reads nothing until told to: its socket has a
// small receive buffer, so the server's writes to it back up at once.
type slowClient struct {
	ws    *websocket.Conn
	tcp   *net.TCPConn
	mu    sync.Mutex
	msgs  []ServerMessage
	err   error
	start chan struct{}
	done  chan struct{}
}

func dialSlow(t *testing.T, env *testEnv, token string) *slowClient {
	t.Helper()
	var tcp *net.TCPConn
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tcp = tc
			_ = tc.SetReadBuffer(4096) // after the handshake: the window scale stays the default
		}
		return c, err
	}}
	ws, _, err := websocket.Dial(context.Background(), env.url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &slowClient{ws: ws, tcp: tcp, start: make(chan struct{}), done: make(chan struct{})}
	if err := ws.Write(context.Background(), websocket.MessageText, []byte(mustJSON(ClientMessage{Type: TypeJoin, Token: token}))); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		<-c.start
		// It recovers (a background tab comes back, a link clears): it reads at
		// full speed what the server still holds for it.
		_ = c.tcp.SetReadBuffer(4 << 20)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			var m ServerMessage
			_ = json.Unmarshal(b, &m)
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *slowClient) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}

func (c *slowClient) sawJoin(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m.Type == TypeParticipant && m.Joined && m.Participant != nil && m.Participant.User == user {
			return true
		}
	}
	return false
}

func (c *slowClient) closed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func sawJoin(c *client, user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.parts {
		if m.Type == TypeParticipant && m.Joined && m.Participant != nil && m.Participant.User == user {
			return true
		}
	}
	return false
}

func countChats(c *client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.parts {
		if m.Type == TypeChat {
			n++
		}
	}
	return n
}

// flushed waits until the server has handled everything c sent: the server
// reads a socket in order, and a bad layer is answered on the control lane.
func flushed(t *testing.T, c *client) {
	t.Helper()
	c.send(ClientMessage{Type: TypeLayer, Layer: "x"})
	waitFor(t, 20*time.Second, "the flood handled", func() bool {
		for _, code := range c.errorCodes() {
			if code == CodeBadMessage {
				return true
			}
		}
		return false
	})
}

// floodRoom is an event room with a normal host, a slow guest and a flooding guest.
func floodRoom(t *testing.T, env *testEnv) (host *client, slow *slowClient, flood *client) {
	t.Helper()
	for _, u := range []string{"host", "slow", "flood", "late"} {
		role := RoleGuest
		if u == "host" {
			role = RoleHost
		}
		env.admit(u, "ev-chat", u, role, KindEvent, MediaChat, 10)
	}
	host = dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	slow = dialSlow(t, env, "slow")
	waitFor(t, 5*time.Second, "slow guest joined", func() bool { return sawJoin(host, "slow") })
	flood = dial(t, env, "flood", clientOpts{})
	flood.waitJoined(t)
	return host, slow, flood
}

// afterFlood checks that the host and the slow guest still have their call: a
// newcomer's join notice (a control message) reaches both, and neither socket closed.
func afterFlood(t *testing.T, env *testEnv, host *client, slow *slowClient) {
	t.Helper()
	close(slow.start)
	late := dial(t, env, "late", clientOpts{})
	late.waitJoined(t)
	waitFor(t, 10*time.Second, "join notice at the host", func() bool { return sawJoin(host, "late") })
	waitFor(t, 10*time.Second, "join notice at the slow guest", func() bool {
		return slow.sawJoin("late") || slow.closed() != nil
	})
	if err := slow.closed(); err != nil {
		t.Fatalf("the slow guest lost its call: %v (refusals %v)", err, slow.count(TypeError))
	}
	host.mu.Lock()
	hostErr := host.closeErr
	host.mu.Unlock()
	if hostErr != nil {
		t.Fatalf("the host lost its call: %v", hostErr)
	}
}

// Issue 10: one guest's chat flood must not end the others' sessions. The
// flooder gets chat_rate_limited refusals (and chat_too_long for a long text),
// the others keep their call and their control messages.
func TestChat_FloodIsRateLimitedAndOthersKeepTheirCall(t *testing.T) {
	env := newTestEnv(t, Config{})
	host, slow, flood := floodRoom(t, env)

	flood.send(ClientMessage{Type: TypeChat, Text: strings.Repeat("é", MaxChatRunes+1)})
	waitFor(t, 5*time.Second, "chat_too_long", func() bool { return len(flood.errorCodes()) > 0 })
	if codes := flood.errorCodes(); codes[0] != CodeChatTooLong {
		t.Fatalf("long chat refused with %v, want chat_too_long", codes)
	}

	text := strings.Repeat("a", 1900)
	const sent = 1000
	start := time.Now()
	for i := 0; i < sent; i++ {
		flood.send(ClientMessage{Type: TypeChat, Text: text})
	}
	elapsed := time.Since(start)
	flushed(t, flood)
	limited := func() int {
		n := 0
		for _, c := range flood.errorCodes() {
			if c == CodeChatRateLimited {
				n++
			}
		}
		return n
	}
	afterFlood(t, env, host, slow)
	waitFor(t, 10*time.Second, "chat_rate_limited refusals for the flooder", func() bool { return limited() > 0 })

	// At most the burst plus the refill during the flood was relayed.
	allowed := 10 + int(5*time.Since(start).Seconds()) + 1
	if got := countChats(host); got > allowed || got == 0 {
		t.Fatalf("host got %d chats of %d sent in %v, want 1..%d", got, sent, elapsed, allowed)
	}
	if got := env.counter("atlas11_sfu_chat_rate_limited_total"); got < float64(sent-allowed) {
		t.Fatalf("chat_rate_limited_total = %v, want >= %d", got, sent-allowed)
	}
	// The flooder is still in the call too, and can chat again later.
	flood.mu.Lock()
	floodErr := flood.closeErr
	flood.mu.Unlock()
	if floodErr != nil {
		t.Fatalf("flooder disconnected: %v", floodErr)
	}
	t.Logf("%d sent in %v: %d refusals read, host got %d chats", sent, elapsed, limited(), countChats(host))
}

// A receiver that reads nothing misses chat, never its call: with the rate
// limit lifted (as many legitimate senders add up), the slow guest's chat is
// dropped and counted, its session lives and its control messages arrive.
func TestChat_SlowReceiverMissesChatNotItsCall(t *testing.T) {
	env := newTestEnv(t, Config{ChatRate: 1e6, ChatBurst: 1e6})
	host, slow, flood := floodRoom(t, env)

	// Twice what the kernel may buffer toward the slow guest (tcp_wmem's
	// maximum, 4 MB by default), in the fewest messages so the server handles
	// them well within its 5 s write timeout.
	text := strings.Repeat("é", MaxChatRunes)
	sent := 2 * maxSendBuffer() / len(text)
	for i := 0; i < sent; i++ {
		flood.send(ClientMessage{Type: TypeChat, Text: text})
	}
	flushed(t, flood)
	afterFlood(t, env, host, slow)
	if env.counter("atlas11_sfu_chat_dropped_total") == 0 {
		t.Fatal("chat_dropped_total did not count the missed chats")
	}
	if got := slow.count(TypeChat); got >= sent {
		t.Fatalf("the slow guest got all %d chats: nothing was dropped for it", got)
	}
	t.Logf("slow guest got %d of %d chats, host %d; dropped %v", slow.count(TypeChat), sent, countChats(host),
		env.counter("atlas11_sfu_chat_dropped_total"))
}

// maxSendBuffer is the most a TCP socket's send buffer may grow to.
func maxSendBuffer() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if f := strings.Fields(string(b)); err == nil && len(f) == 3 {
		if n, err := strconv.Atoi(f[2]); err == nil && n > 0 {
			return n
		}
	}
	return 4 << 20
}
