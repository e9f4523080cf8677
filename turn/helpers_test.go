package turn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

const testSecret = "atlas11-test-secret-0001"

// clock is a hand-moved clock for the time-based rules.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConfig is a loopback server whose relays may reach 127.0.0.1 only,
// on the media ports alone: port 9 (discard, nothing listens) until a test
// adds its peers with mediaUDPEcho or mediaTCPEcho.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ListenAddress = "127.0.0.1"
	cfg.Port = 0
	cfg.RelayAddress = "127.0.0.1"
	cfg.RelayPortMin = 21000
	cfg.RelayPortMax = 22999
	cfg.Secret = testSecret
	cfg.MediaIPs = []string{"127.0.0.1"}
	cfg.MediaUDPPorts, cfg.MediaTCPPorts = []int{9}, []int{9}
	return cfg
}

type testServer struct {
	*Server
	reg *prometheus.Registry
}

func startServer(t *testing.T, cfg Config, now func() time.Time) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg, Deps{Logger: logger, Registerer: reg, Now: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testServer{Server: s, reg: reg}
}

func (s *testServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port()) }

func (s *testServer) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var c prometheus.Metric
	switch name {
	case "relayed":
		c = s.m.relayedBytes.WithLabelValues(labels...)
	case "auth":
		c = s.m.authFailures.WithLabelValues(labels...)
	case "permission":
		c = s.m.permissionRefusals.WithLabelValues(labels...)
	case "quota":
		c = s.m.quotaRefusals.WithLabelValues(labels...)
	case "allocations":
		c = s.m.allocations.WithLabelValues(labels...)
	case "ratelimited":
		c = s.m.rateLimitedBytes.WithLabelValues(labels...)
	default:
		t.Fatalf("unknown metric %s", name)
	}
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// metricsText scrapes the registry as Prometheus would.
func (s *testServer) metricsText(t *testing.T) string {
	t.Helper()
	h := httptest.NewServer(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	defer h.Close()
	resp, err := http.Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// udpEcho is a peer on 127.0.0.1 that echoes every datagram.
func udpEcho(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	return c
}

// udpService is a local UDP service on 127.0.0.1 that is not a media
// port; it echoes and counts what it receives.
func udpService(t *testing.T) (int, *atomic.Int64) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var got atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			got.Add(1)
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port, &got
}

// mediaUDPEcho is a udpEcho whose port cfg makes a media port.
func mediaUDPEcho(t *testing.T, cfg *Config) int {
	t.Helper()
	port := udpEcho(t).LocalAddr().(*net.UDPAddr).Port
	cfg.MediaUDPPorts = append(cfg.MediaUDPPorts, port)
	return port
}

// uclientMediaPeer is a mediaUDPEcho for turnutils_uclient, which also
// binds a channel to the next port (its RTCP peer, even with -c): both are
// media ports.
func uclientMediaPeer(t *testing.T, cfg *Config) string {
	t.Helper()
	port := mediaUDPEcho(t, cfg)
	cfg.MediaUDPPorts = append(cfg.MediaUDPPorts, port+1)
	return strconv.Itoa(port)
}

// mediaTCPEcho is a tcpEcho whose port cfg makes a media ICE-TCP port.
func mediaTCPEcho(t *testing.T, cfg *Config) int {
	t.Helper()
	port := tcpEcho(t).Addr().(*net.TCPAddr).Port
	cfg.MediaTCPPorts = append(cfg.MediaTCPPorts, port)
	return port
}

// tcpEcho is a TCP peer on 127.0.0.1 that echoes every connection.
func tcpEcho(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l
}

// uclient runs coturn's turnutils_uclient, bounded in time.
func uclient(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("turnutils_uclient %v timed out:\n%s", args, out)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("turnutils_uclient: %v (is coturn installed?)", err)
	}
	return string(out), code
}

// selfSignedCert writes a certificate and key for 127.0.0.1 into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "atlas11 test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func testCounter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Counter.GetValue()
}
