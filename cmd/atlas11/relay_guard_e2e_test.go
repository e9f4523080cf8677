package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"atlas11/turn"
)

const relayGuardSecret = "relay-guard-e2e-secret-0123"

// freeUDPTCPPort returns a port free for both UDP and TCP on 127.0.0.1,
// below TURN's default relay range (49152-65535), which the kernel's
// ephemeral ports overlap: a TURN port in it is refused at start.
func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	for range 200 {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			if port < 49152 {
				return port
			}
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// relayGuardServer starts the program in its default single-host set-up
// (SFU, TURN and HTTP on 127.0.0.1) with ports and TURN secret the test
// knows, as an attacker learns them from any call token.
func relayGuardServer(t *testing.T) (httpPort, adminPort, turnPort, sfuUDP, sfuTCP int) {
	t.Helper()
	turnPort, sfuUDP, sfuTCP = freeUDPTCPPort(t), freeUDPTCPPort(t), freeUDPTCPPort(t)
	base := startServerWith(t, t.TempDir(), fmt.Sprintf(`
admin_addr: 127.0.0.1:0
log:
  level: warn
sfu:
  udp_port: %d
  tcp_port: %d
turn:
  port: %d
  tls_port: 0
  secret: %s
`, sfuUDP, sfuTCP, turnPort, relayGuardSecret), nil)
	return urlPort(t, base), urlPort(t, adminOf(t, base)), turnPort, sfuUDP, sfuTCP
}

func urlPort(t *testing.T, base string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("no port in %q", base)
	}
	return port
}

// runUclient runs coturn's turnutils_uclient, bounded in time.
func runUclient(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", args...).CombinedOutput()
	var ee *exec.ExitError
	if ctx.Err() != nil || (err != nil && !errors.As(err, &ee)) {
		t.Fatalf("turnutils_uclient %v: %v (is coturn installed?)\n%s", args, err, out)
	}
	return string(out)
}

// The hole as it was found: the TURN relay judged the peer's IP only, and
// 127.0.0.1 is the media IP of the default set-up, so an allocation reached
// every local port. From outside, with coturn's client over UDP and TCP and
// with an RFC 6062 TCP allocation: a local UDP service and the HTTP port
// (the API, /metrics) are refused; the SFU's own UDP and ICE-TCP ports are
// reachable.
func TestRelayGuardE2E_RelayReachesOnlyTheSFUPorts(t *testing.T) {
	httpPort, adminPort, turnPort, sfuUDP, sfuTCP := relayGuardServer(t)
	user, pass := turn.Credentials(relayGuardSecret, "mallory", time.Hour, time.Now())

	// An arbitrary local service on the media IP, not a media port.
	svc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var svcGot atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := svc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			svcGot.Add(1)
			_, _ = svc.WriteToUDP(buf[:n], from)
		}
	}()
	svcPort := svc.LocalAddr().(*net.UDPAddr).Port

	refusal := func(out string) bool {
		return strings.Contains(out, "error 403") || strings.Contains(out, "channel bind: error 401")
	}
	for name, transport := range map[string][]string{
		"udp": nil, "tcp": {"-t"}, "udp-send": {"-s"}, "tcp-send": {"-t", "-s"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"-u", user, "-w", pass, "-n", "3", "-c", "-p", strconv.Itoa(turnPort), "-e", "127.0.0.1"}, transport...)
			for what, port := range map[string]int{"a local UDP service": svcPort, "the HTTP port": httpPort, "the admin port": adminPort} {
				if out := runUclient(t, append(args, "-r", strconv.Itoa(port), "127.0.0.1")...); !refusal(out) {
					t.Errorf("relay to %s (127.0.0.1:%d) not refused:\n%s", what, port, out)
				}
			}
		})
	}
	if n := svcGot.Load(); n != 0 {
		t.Errorf("the local service received %d datagrams through the relay", n)
	}

	// A UDP relay gets a permission for the SFU's UDP port, not for the
	// service's.
	lo := net.IPv4(127, 0, 0, 1)
	udpConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpClient := relayGuardClient(t, udpConn, turnPort, user, pass)
	relay, err := udpClient.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if err := udpClient.CreatePermission(&net.UDPAddr{IP: lo, Port: sfuUDP}); err != nil {
		t.Errorf("permission for the SFU's UDP port refused: %v", err)
	}
	if err := udpClient.CreatePermission(&net.UDPAddr{IP: lo, Port: svcPort}); err == nil {
		t.Error("permission for the local service's port granted")
	}

	// RFC 6062: a TCP allocation connects to the ICE-TCP port, never to the
	// HTTP port.
	control, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(turnPort)))
	if err != nil {
		t.Fatal(err)
	}
	client := relayGuardClient(t, pionturn.NewSTUNConn(control), turnPort, user, pass)
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer alloc.Close()
	// An arbitrary local TCP service that counts what it accepts.
	tcpSvc, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpSvc.Close()
	var tcpSvcGot atomic.Int64
	go func() {
		for {
			c, err := tcpSvc.Accept()
			if err != nil {
				return
			}
			tcpSvcGot.Add(1)
			_ = c.Close()
		}
	}()
	for what, port := range map[string]int{
		"the HTTP port": httpPort, "the admin port": adminPort,
		"a local TCP service": tcpSvc.Addr().(*net.TCPAddr).Port, "the SFU's UDP port": sfuUDP,
	} {
		conn, err := alloc.DialTCP("tcp", nil, &net.TCPAddr{IP: lo, Port: port})
		if err != nil {
			if !strings.Contains(err.Error(), "403") {
				t.Errorf("Connect to %s: %v, want a 403", what, err)
			}
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
		resp, rerr := http.ReadResponse(bufio.NewReader(conn), nil)
		status := "no response"
		if rerr == nil {
			status = resp.Status
			_ = resp.Body.Close()
		}
		_ = conn.Close()
		t.Errorf("a TCP allocation reached %s (127.0.0.1:%d), GET /metrics: %s", what, port, status)
	}
	if n := tcpSvcGot.Load(); n != 0 {
		t.Errorf("the local TCP service accepted %d connections from the relay", n)
	}
	conn, err := alloc.DialTCP("tcp", nil, &net.TCPAddr{IP: lo, Port: sfuTCP})
	if err != nil {
		t.Errorf("a TCP allocation cannot reach the SFU's ICE-TCP port: %v", err)
	} else {
		_ = conn.Close()
	}
}

// relayGuardClient is a pion TURN client over conn to the program's relay.
func relayGuardClient(t *testing.T, conn net.PacketConn, turnPort int, user, pass string) *pionturn.Client {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(turnPort))
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "atlas11",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}
