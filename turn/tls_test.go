package turn

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// dialTLS opens a TURN-over-TLS client to s and returns it with the
// certificate the server presented in this handshake.
func dialTLS(t *testing.T, s *testServer, user, pass string) (*rawClient, []byte) {
	t.Helper()
	tc, err := tls.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(s.TLSPort()),
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test compares the certificate itself
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: turn.NewSTUNConn(tc), server: tc.RemoteAddr(), user: user, pass: pass}
	t.Cleanup(func() { _ = c.conn.Close() })
	return c, tc.ConnectionState().PeerCertificates[0].Raw
}

func loadPair(t *testing.T) *tls.Certificate {
	t.Helper()
	certFile, keyFile := selfSignedCert(t, t.TempDir())
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// relayEcho sends data through c's allocation to the echo peer and waits
// for it to come back.
func relayEcho(t *testing.T, c *rawClient, echo *net.UDPConn, data string) {
	t.Helper()
	peer := echo.LocalAddr().(*net.UDPAddr)
	c.send(peer.IP, peer.Port, []byte(data))
	got, ok := c.dataIndication(5 * time.Second)
	if !ok || string(got) != data {
		t.Fatalf("relayed %q, got %q (ok %v)", data, got, ok)
	}
}

// With the certificate supplied per handshake (the binary's HTTPS source),
// a renewal reaches TURN over TLS without a restart: the next TLS client
// gets the new certificate, while a call already relayed over the old
// connection keeps its allocation, refreshes it and relays on.
func TestTLS_RenewedCertificateForNewClientsWhileOldAllocationRelays(t *testing.T) {
	before, after := loadPair(t), loadPair(t)
	var current atomic.Pointer[tls.Certificate]
	current.Store(before)
	cfg := testConfig()
	cfg.TLSPort = 0
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }
	echo := udpEcho(t)
	echoPort := echo.LocalAddr().(*net.UDPAddr).Port
	cfg.MediaUDPPorts = append(cfg.MediaUDPPorts, echoPort)
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "caller", time.Hour, time.Now())

	old, served := dialTLS(t, s, user, pass)
	if !bytes.Equal(served, before.Certificate[0]) {
		t.Fatal("first TLS client did not get the configured certificate")
	}
	if code := old.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate over TLS: %d", code)
	}
	if code := old.createPermission(net.IPv4(127, 0, 0, 1), echoPort, false); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	relayEcho(t, old, echo, "before renewal")

	current.Store(after) // the renewal
	fresh, served := dialTLS(t, s, user, pass)
	if !bytes.Equal(served, after.Certificate[0]) {
		t.Fatal("a TLS client after the renewal still got the old certificate")
	}
	if code := fresh.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate after renewal: %d", code)
	}
	if code := old.refresh(10 * time.Minute); code != 0 {
		t.Fatalf("refreshing the old allocation after renewal: %d", code)
	}
	relayEcho(t, old, echo, "after renewal")
	if n := s.AllocationCount(); n != 2 {
		t.Fatalf("allocations: %d, want the old one and the new one", n)
	}
}
