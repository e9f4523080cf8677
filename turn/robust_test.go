package turn

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// allocateRequest is a well-formed, signed Allocate request, the seed for
// truncations and mutations.
func allocateRequest(t testing.TB, user, pass string) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransport(protoUDP), stun.NewUsername(user), stun.NewRealm("atlas11"),
		stun.NewNonce("0123456789abcdef"), stun.NewLongTermIntegrity(user, "atlas11", pass), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// garbage yields hostile datagrams: random bytes, every truncation of a real
// request, corrupted lengths, ChannelData headers claiming 64 KiB.
func garbage(t *testing.T, rng *rand.Rand) [][]byte {
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	req := allocateRequest(t, user, pass)
	var out [][]byte
	for n := 0; n < len(req); n++ {
		out = append(out, req[:n])
	}
	for i := 0; i < 300; i++ {
		b := make([]byte, rng.IntN(1500))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		out = append(out, b)
		m := bytes.Clone(req)
		m[rng.IntN(len(m))] ^= byte(1 + rng.UintN(255))
		out = append(out, m)
	}
	for _, l := range []uint16{0, 1, 19, 0xFFFF, uint16(len(req) - 20 + 4)} {
		m := bytes.Clone(req)
		binary.BigEndian.PutUint16(m[2:4], l)
		out = append(out, m)
	}
	for _, ch := range []uint16{0x4000, 0x4FFF, 0x7FFF, 0xFFFF} {
		out = append(out, []byte{byte(ch >> 8), byte(ch), 0xFF, 0xFF, 1, 2, 3, 4, 5})
	}
	return out
}

// Garbage and truncated STUN on every listener never crash the server, and
// it keeps serving real clients afterwards.
func TestRobustness_GarbageAndTruncatedSTUN(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	rng := rand.New(rand.NewPCG(1, 2))
	junk := garbage(t, rng)
	goroutines := runtime.NumGoroutine()

	udp, err := net.Dial("udp4", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i, b := range junk {
		_, _ = udp.Write(b)
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // keep within the socket buffer
		}
	}
	// On TCP, each piece of junk on its own connection, and all of it in one stream.
	for i, b := range junk[:200] {
		c, err := net.Dial("tcp4", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(b)
		if i%2 == 0 {
			_ = c.Close()
		} else {
			defer c.Close() // truncated frames left hanging
		}
	}
	stream, err := net.Dial("tcp4", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for _, b := range junk {
		_, _ = stream.Write(b)
	}

	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	for _, network := range []string{"udp", "tcp"} {
		if code := dialRaw(t, s, network, user, pass).allocate(protoUDP); code != 0 {
			t.Errorf("allocation over %s after garbage: code %d", network, code)
		}
	}
	if n := s.AllocationCount(); n != 2 {
		t.Errorf("allocations %d, want 2", n)
	}
	if g := runtime.NumGoroutine(); g > goroutines+250 {
		t.Errorf("goroutines grew from %d to %d", goroutines, g)
	}
}

// promtool accepts the server's metrics exposition.
func TestMetrics_PromtoolCheckMetrics(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	c := dialRaw(t, s, "udp", user, pass)
	if code := c.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	_ = c.createPermission(net.IPv4(10, 0, 0, 1), 9, false)
	_ = dialRaw(t, s, "udp", user, "wrong").allocate(protoUDP)

	text := s.metricsText(t)
	for _, name := range []string{"atlas11_turn_allocations_active", "atlas11_turn_relayed_bytes_total",
		"atlas11_turn_auth_failures_total", "atlas11_turn_permission_refusals_total"} {
		if !strings.Contains(text, "# TYPE "+name+" ") {
			t.Errorf("metric %s missing", name)
		}
	}
	if !strings.Contains(text, `atlas11_turn_allocations_active{transport="udp"} 1`) ||
		!strings.Contains(text, `atlas11_turn_permission_refusals_total{transport="udp"} 1`) ||
		!strings.Contains(text, `atlas11_turn_auth_failures_total{reason="bad_credentials"} 1`) {
		t.Errorf("unexpected values:\n%s", text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, text)
	}
}

// A TCP or TLS client that connects and stays silent is disconnected, so
// idle sockets cannot pile up; one that keeps talking is served.
func TestRobustness_SilentTCPClientsAreDisconnected(t *testing.T) {
	cfg := testConfig()
	cfg.CertFile, cfg.KeyFile = selfSignedCert(t, t.TempDir())
	cfg.TLSPort = 0
	cfg.timeouts = connTimeouts{firstRead: 300 * time.Millisecond, idle: time.Second}
	s := startServer(t, cfg, nil)

	for _, port := range []int{s.Port(), s.TLSPort()} {
		c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("port %d: silent client got data", port)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("port %d: silent client still connected after 5s", port)
		} else if d := time.Since(start); d > 3*time.Second {
			t.Errorf("port %d: disconnected after %s", port, d)
		}
	}

	// A client with an allocation talking more often than the idle timeout stays.
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	c := dialRaw(t, s, "tcp", user, pass)
	if code := c.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		if code := c.refresh(10 * time.Minute); code != 0 {
			t.Fatalf("refresh on a live connection: %d", code)
		}
	}
	// Then silence past the idle timeout drops the connection and its allocation.
	deadline := time.Now().Add(5 * time.Second)
	for s.AllocationCount() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.AllocationCount(); n != 0 {
		t.Errorf("allocation of an idle TCP client still held: %d", n)
	}
}
