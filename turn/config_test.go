package turn

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConfig_ValidateNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	garbagePEM := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbagePEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"empty secret", func(c *Config) { c.Secret = "" }, "turn.secret: must not be empty"},
		{"short secret", func(c *Config) { c.Secret = "short" }, "turn.secret: too short"},
		{"empty previous secret", func(c *Config) { c.PreviousSecrets = []string{""} }, "turn.previous_secrets"},
		{"missing cert file", func(c *Config) {
			c.CertFile, c.KeyFile = filepath.Join(dir, "nope.pem"), filepath.Join(dir, "nope.key")
		}, "turn.cert_file: cannot load certificate"},
		{"garbage cert", func(c *Config) { c.CertFile, c.KeyFile = garbagePEM, garbagePEM }, "turn.cert_file"},
		{"key without cert", func(c *Config) { c.KeyFile = garbagePEM }, "turn.cert_file: must be set"},
		{"cert without key", func(c *Config) { c.CertFile = garbagePEM }, "turn.key_file: must be set"},
		{"bad port", func(c *Config) { c.Port = 70000 }, "turn.port"},
		{"inverted relay range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 40000 }, "turn.relay_port_min: 50000 is above"},
		{"zero relay port", func(c *Config) { c.RelayPortMin = 0 }, "turn.relay_port_min"},
		{"range holds the TURN port", func(c *Config) { c.Port = 21500 }, "contains turn.port"},
		{"no relay address", func(c *Config) { c.RelayAddress = "" }, "turn.relay_address"},
		{"IPv6 relay address", func(c *Config) { c.RelayAddress = "2001:db8::1" }, "turn.relay_address"},
		{"bad listen address", func(c *Config) { c.ListenAddress = "localhost" }, "turn.listen_address"},
		{"no realm", func(c *Config) { c.Realm = "" }, "turn.realm"},
		{"no media IPs", func(c *Config) { c.MediaIPs = nil }, "turn.media_ips"},
		{"unspecified media IP", func(c *Config) { c.MediaIPs = []string{"0.0.0.0"} }, "turn.media_ips: 0.0.0.0 is unspecified"},
		{"metadata media IP", func(c *Config) { c.MediaIPs = []string{"169.254.169.254"} }, "turn.media_ips"},
		{"bad CIDR", func(c *Config) { c.AllowPeers = []string{"10.0.0.0/33"} }, "turn.allow_peers"},
		{"zero TTL", func(c *Config) { c.CredentialTTL = 0 }, "turn.credential_ttl"},
		{"zero per-user quota", func(c *Config) { c.MaxAllocationsPerUser = 0 }, "turn.max_allocations_per_user"},
		{"zero total quota", func(c *Config) { c.MaxAllocations = 0 }, "turn.max_allocations:"},
		{"tiny lifetime", func(c *Config) { c.MaxAllocationLifetime = time.Second }, "turn.max_allocation_lifetime"},
		{"no bandwidth", func(c *Config) { c.BandwidthPerAllocation = 0 }, "turn.bandwidth_per_allocation"},
	} {
		cfg := testConfig()
		c.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if _, err := New(cfg, Deps{}); err == nil {
			t.Errorf("%s: New accepted the config", c.name)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("test config: %v", err)
	}
}

func TestConfig_DefaultsNeedOnlySiteValues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RelayAddress, cfg.Secret, cfg.MediaIPs = "198.51.100.7", testSecret, []string{"198.51.100.7"}
	cfg.MediaUDPPorts, cfg.MediaTCPPorts = []int{50000}, []int{50001}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 3478 || cfg.TLSEnabled() {
		t.Errorf("defaults: port %d, TLS %v", cfg.Port, cfg.TLSEnabled())
	}
}

func TestStartup_PortInUseIsAClearError(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.Port = busy.LocalAddr().(*net.UDPAddr).Port
	_, err = New(cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "turn.port") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %v, want one naming turn.port and the port in use", err)
	}

	// TLS port in use.
	tcpBusy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpBusy.Close()
	cfg = testConfig()
	cfg.CertFile, cfg.KeyFile = selfSignedCert(t, t.TempDir())
	cfg.TLSPort = tcpBusy.Addr().(*net.TCPAddr).Port
	reg := prometheus.NewRegistry()
	if _, err := New(cfg, Deps{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "turn.tls_port") {
		t.Fatalf("error %v, want one naming turn.tls_port", err)
	}
	// A failed start leaves nothing registered: the same registry serves a retry.
	cfg.TLSPort = 0
	s, err := New(cfg, Deps{Registerer: reg})
	if err != nil {
		t.Fatalf("retry after a failed start: %v", err)
	}
	_ = s.Close()
}

func TestServer_ICEServersForTheBrowser(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.PublicHost = "turn.example.org"
	cfg.CertFile, cfg.KeyFile = selfSignedCert(t, t.TempDir())
	cfg.TLSPort = 0
	s := startServer(t, cfg, clk.Now)
	servers, err := s.ICEServers("user-42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(servers)
	port, tlsPort := strconv.Itoa(s.Port()), strconv.Itoa(s.TLSPort())
	expiry := strconv.FormatInt(clk.Now().Add(cfg.CredentialTTL).Unix(), 10)
	want := `[{"urls":["turn:turn.example.org:` + port + `?transport=udp","turn:turn.example.org:` + port +
		`?transport=tcp","turns:turn.example.org:` + tlsPort + `?transport=tcp"],"username":"` + expiry +
		`:user-42","credential":"` + restPassword(testSecret, expiry+":user-42") + `"}]`
	if string(b) != want {
		t.Errorf("ICE servers\n got %s\nwant %s", b, want)
	}
	if _, err := s.ICEServers("bad:id"); err == nil {
		t.Error("a user ID with ':' was accepted")
	}
	if _, err := s.ICEServers(""); err == nil {
		t.Error("an empty user ID was accepted")
	}
}
