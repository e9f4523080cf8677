package turn

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// The hole as found from outside: the guard judged the IP only, so a relay
// reached every port of the media IP (127.0.0.1 here, as in the default
// single-host set-up). coturn's client asks for a relay to a local UDP
// service that is not a media port, on every transport and both ways of
// sending (channels, Send indications): nothing reaches the service. The
// same run toward the media port is relayed in full.
func TestUclient_RelayReachesOnlyMediaPorts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.CertFile, cfg.KeyFile = selfSignedCert(t, dir)
	cfg.TLSPort = 0
	media := uclientMediaPeer(t, &cfg)
	servicePort, serviceGot := udpService(t)
	service := strconv.Itoa(servicePort)
	s := startServer(t, cfg, nil)
	port, tlsPort := strconv.Itoa(s.Port()), strconv.Itoa(s.TLSPort())
	user, pass := Credentials(testSecret, "mallory", time.Hour, time.Now())

	transports := map[string][]string{
		"udp":      {"-p", port},
		"tcp":      {"-t", "-p", port},
		"tls":      {"-t", "-S", "-p", tlsPort},
		"udp-send": {"-s", "-p", port},
		"tcp-send": {"-t", "-s", "-p", port},
	}
	for name, tr := range transports {
		t.Run(name, func(t *testing.T) {
			base := append([]string{"-u", user, "-w", pass, "-n", "5", "-c", "-e", "127.0.0.1"}, tr...)
			out, code := uclient(t, append(base, "-r", service, "127.0.0.1")...)
			if sent, recv := uclientCounts(out); code == 0 && recv > 0 {
				t.Errorf("relayed %d of %d messages to a non-media port of the media IP:\n%s", recv, sent, out)
			}
			out, code = uclient(t, append(base, "-r", media, "127.0.0.1")...)
			requireRelayed(t, out, code)
		})
	}
	if n := serviceGot.Load(); n != 0 {
		t.Errorf("the local service on a non-media port received %d datagrams through the relay", n)
	}

	// RFC 6062 client to client: the peer is another allocation's relay
	// port, not a media port, so the permission is refused.
	out, code := uclient(t, "-u", user, "-w", pass, "-n", "5", "-T", "-p", port, "127.0.0.1")
	if sent, recv := uclientCounts(out); code == 0 || recv > 0 || !strings.Contains(out, "error 403") {
		t.Errorf("TCP relay to another relay port: exit %d, relayed %d of %d, want a 403:\n%s", code, recv, sent, out)
	}
}

// uclientCounts reads uclient's final totals.
func uclientCounts(out string) (sent, recv int) {
	for _, line := range strings.Split(out, "\n") {
		if m := uclientTotals.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			sent, _ = strconv.Atoi(m[1])
			recv, _ = strconv.Atoi(m[2])
		}
	}
	return sent, recv
}

// Every request that names a peer is judged with its port: CreatePermission,
// ChannelBind and Connect toward a non-media port of the media IP are
// refused on the wire, a Send indication there is dropped, and the UDP
// media port is not reachable over a TCP connection nor the ICE-TCP port
// over a channel.
func TestGuard_NonMediaPortsRefusedOnTheWire(t *testing.T) {
	cfg := testConfig()
	udpMedia := mediaUDPEcho(t, &cfg)
	tcpMedia := mediaTCPEcho(t, &cfg)
	servicePort, serviceGot := udpService(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secret metrics")
	}))
	defer api.Close()
	apiPort := api.Listener.Addr().(*net.TCPAddr).Port
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "mallory", time.Hour, time.Now())
	lo := net.IPv4(127, 0, 0, 1)

	for _, network := range []string{"udp", "tcp"} {
		t.Run("udp-relay-over-"+network, func(t *testing.T) {
			c := dialRaw(t, s, network, user, pass)
			if code := c.allocate(protoUDP); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			refused := []int{servicePort, apiPort, s.Port(), 0}
			if network == "udp" {
				// Over TCP the allocation may be a TCP relay, which the
				// ICE-TCP port's permission serves; its UDP socket still
				// drops what is not for a UDP media port.
				refused = append(refused, tcpMedia)
			}
			for _, p := range refused {
				if code := c.createPermission(lo, p, false); code != 403 {
					t.Errorf("CreatePermission 127.0.0.1:%d: code %d, want 403", p, code)
				}
			}
			for i, p := range []int{servicePort, apiPort, tcpMedia} {
				if code := c.channelBind(lo, p, uint16(0x4000+i)); code == 0 {
					t.Errorf("ChannelBind 127.0.0.1:%d accepted", p)
				}
			}
			if code := c.createPermission(lo, udpMedia, false); code != 0 {
				t.Fatalf("CreatePermission to the media port: code %d", code)
			}
			// With a permission for the IP, Send to the service is dropped;
			// the echo from the media port, sent after it, proves the relay
			// already handled it.
			c.send(lo, servicePort, []byte("to the service"))
			c.send(lo, udpMedia, []byte("to the media port"))
			if data, ok := c.dataIndication(5 * time.Second); !ok || string(data) != "to the media port" {
				t.Fatalf("media port echo: %q %v", data, ok)
			}
			if n := serviceGot.Load(); n != 0 {
				t.Errorf("the service received %d datagrams", n)
			}
			if code := c.channelBind(lo, udpMedia, 0x4100); code != 0 {
				t.Errorf("ChannelBind to the media port: code %d", code)
			}
		})
	}

	t.Run("tcp-relay", func(t *testing.T) {
		c := dialRaw(t, s, "tcp", user, pass)
		if code := c.allocate(protoTCP); code != 0 {
			t.Fatalf("allocate TCP: %d", code)
		}
		for _, p := range []int{apiPort, udpMedia, s.Port()} {
			if code := c.connect(lo, p, false); code != 403 {
				t.Errorf("Connect 127.0.0.1:%d: code %d, want 403", p, code)
			}
			if code := c.createPermission(lo, p, false); p != udpMedia && code != 403 {
				t.Errorf("CreatePermission on a TCP allocation 127.0.0.1:%d: code %d, want 403", p, code)
			}
		}
		if code := c.connect(lo, tcpMedia, false); code != 0 {
			t.Errorf("Connect to the ICE-TCP media port: code %d", code)
		}
	})
}

// RFC 6062 end to end with pion's client: a TCP allocation's connection to
// the media server's ICE-TCP port carries data both ways; one to the HTTP
// port is refused and the HTTP server never sees it.
func TestGuard_RFC6062ConnectOnlyToMediaTCPPort(t *testing.T) {
	cfg := testConfig()
	tcpMedia := mediaTCPEcho(t, &cfg)
	var hits atomic.Int64
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secret metrics")
	}))
	api.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			hits.Add(1)
		}
	}
	api.Start()
	defer api.Close()
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "mallory", time.Hour, time.Now())

	control, err := net.Dial("tcp4", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.addr(), TURNServerAddr: s.addr(), Conn: turn.NewSTUNConn(control),
		Username: user, Password: pass, Realm: "atlas11",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer alloc.Close()

	if conn, err := alloc.DialTCP("tcp", nil, api.Listener.Addr().(*net.TCPAddr)); err == nil {
		_ = conn.Close()
		t.Error("a TCP allocation connected to the HTTP port of the media IP")
	}
	conn, err := alloc.DialTCP("tcp", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: tcpMedia})
	if err != nil {
		t.Fatalf("connect to the ICE-TCP media port: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the TCP relay: %q %v", buf, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the HTTP server accepted %d connections from the relay", n)
	}
}
