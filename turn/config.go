package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is the TURN relay's configuration. The comment on each field names
// its config key (turn.*) and documents it; errors from Validate name the key.
type Config struct {
	// turn.listen_address: IP the TURN listeners and relay sockets bind to.
	ListenAddress string
	// turn.port: UDP and TCP port of the TURN listeners (3478). 0 picks a free
	// port (tests).
	Port int
	// turn.tls_port: TURN-over-TLS port (5349, or 443 on networks that only
	// allow HTTPS). Used only when turn.cert_file is set. 0 picks a free port.
	TLSPort int
	// turn.cert_file, turn.key_file: PEM certificate chain and key for TURN over
	// TLS. Empty disables TLS.
	CertFile string
	KeyFile  string
	// GetCertificate, when set, supplies the certificate at each TLS
	// handshake instead of cert_file (the binary passes its HTTPS source):
	// a renewed certificate is served to new connections while existing
	// ones, and their allocations, carry on.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// turn.realm: long-term credential realm.
	Realm string
	// turn.relay_address: public IPv4 address advertised for relayed
	// candidates (the host's public IP, even behind 1:1 NAT).
	RelayAddress string
	// turn.public_host: host name or IP put in the turn:/turns: URLs handed to
	// browsers; must match the TLS certificate. Defaults to turn.relay_address.
	PublicHost string
	// turn.relay_port_min, turn.relay_port_max: inclusive UDP/TCP port range for
	// relayed addresses; keep it apart from the SFU's own port range.
	RelayPortMin int
	RelayPortMax int
	// turn.secret: shared secret for TURN REST credentials (mints and verifies).
	Secret string
	// turn.previous_secrets: older secrets still accepted (never minted with)
	// during a rotation. Keep one for credential_ttl + max_allocation_lifetime
	// after rotating, then remove it.
	PreviousSecrets []string
	// turn.credential_ttl: lifetime of minted credentials. A new allocation
	// needs unexpired credentials; an existing one keeps working until
	// max_allocation_lifetime.
	CredentialTTL time.Duration
	// turn.media_ips: the SFU's configured and public IPs. Relays may reach
	// exactly these, even when loopback or private.
	MediaIPs []string
	// MediaUDPPorts, MediaTCPPorts: the media server's own ports (the SFU's
	// UDP port and its ICE-TCP port), set by cmd/atlas11 from the ports the
	// SFU bound. On a media IP a UDP relay reaches only MediaUDPPorts and an
	// RFC 6062 connection only MediaTCPPorts; every other port there (the HTTP
	// API, /metrics, any local service) is refused.
	MediaUDPPorts []int
	MediaTCPPorts []int
	// turn.allow_peers: extra CIDRs relays may reach. Loopback, link-local,
	// multicast and other forbidden ranges are rejected; a private range is
	// accepted only when the entry lies inside it (10.1.0.0/16, not 0.0.0.0/0).
	AllowPeers []string
	// turn.max_allocations_per_user: allocations one user may hold at once.
	MaxAllocationsPerUser int
	// turn.max_allocations: allocations the server holds at once.
	MaxAllocations int
	// turn.max_allocation_lifetime: an allocation is closed this long after it
	// was created, refreshes notwithstanding.
	MaxAllocationLifetime time.Duration
	// turn.bandwidth_per_allocation: cap in bytes per second for each
	// allocation, applied to each direction separately; excess UDP is dropped,
	// TCP is slowed down.
	BandwidthPerAllocation int

	// timeouts overrides the TCP/TLS connection timeouts (tests only).
	timeouts connTimeouts
}

// connTimeouts bound silent TCP/TLS clients: the first read covers the TLS
// handshake and first request, idle every later one.
type connTimeouts struct {
	firstRead, idle time.Duration
}

func (c Config) connTimeouts() connTimeouts {
	t := c.timeouts
	if t.firstRead <= 0 {
		t.firstRead = defaultFirstRead
	}
	if t.idle <= 0 {
		t.idle = defaultIdle
	}
	return t
}

// DefaultConfig returns the defaults; RelayAddress, Secret and MediaIPs have
// none and must be set.
func DefaultConfig() Config {
	return Config{
		ListenAddress:          "0.0.0.0",
		Port:                   3478,
		TLSPort:                5349,
		Realm:                  "atlas11",
		RelayPortMin:           49152,
		RelayPortMax:           65535,
		CredentialTTL:          30 * time.Minute,
		MaxAllocationsPerUser:  20,
		MaxAllocations:         1000,
		MaxAllocationLifetime:  4 * time.Hour,
		BandwidthPerAllocation: 1_250_000, // 10 Mbit/s
	}
}

// TLSEnabled reports whether TURN over TLS is configured.
func (c Config) TLSEnabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.GetCertificate != nil
}

// Validate checks the configuration; each error names its config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("turn.%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if a, err := netip.ParseAddr(c.ListenAddress); err != nil {
		bad("listen_address", "%q is not an IP address", c.ListenAddress)
	} else if !a.Unmap().Is4() {
		bad("listen_address", "%s: relays are IPv4 only; use an IPv4 address such as 0.0.0.0", a)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is not a port", c.Port)
	}
	if c.TLSEnabled() {
		if c.TLSPort < 0 || c.TLSPort > 65535 {
			bad("tls_port", "%d is not a port", c.TLSPort)
		} else if c.TLSPort != 0 && c.TLSPort == c.Port {
			bad("tls_port", "%d is already turn.port", c.TLSPort)
		}
		switch {
		case c.GetCertificate != nil && c.CertFile == "" && c.KeyFile == "":
		case c.CertFile == "":
			bad("cert_file", "must be set when turn.key_file is")
		case c.KeyFile == "":
			bad("key_file", "must be set when turn.cert_file is")
		default:
			if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
				bad("cert_file", "cannot load certificate %q with key %q: %v", c.CertFile, c.KeyFile, err)
			}
		}
	}
	if c.Realm == "" {
		bad("realm", "must not be empty")
	}
	if a, err := netip.ParseAddr(c.RelayAddress); err != nil {
		bad("relay_address", "%q is not an IP address (the public IPv4 address of this host)", c.RelayAddress)
	} else if !a.Unmap().Is4() || a.IsUnspecified() || a.IsMulticast() {
		bad("relay_address", "%s must be a unicast IPv4 address", a)
	}
	switch {
	case c.RelayPortMin < 1 || c.RelayPortMin > 65535:
		bad("relay_port_min", "%d is not a port", c.RelayPortMin)
	case c.RelayPortMax < 1 || c.RelayPortMax > 65535:
		bad("relay_port_max", "%d is not a port", c.RelayPortMax)
	case c.RelayPortMin > c.RelayPortMax:
		bad("relay_port_min", "%d is above turn.relay_port_max %d", c.RelayPortMin, c.RelayPortMax)
	case c.Port >= c.RelayPortMin && c.Port <= c.RelayPortMax:
		bad("relay_port_min", "range %d-%d contains turn.port %d", c.RelayPortMin, c.RelayPortMax, c.Port)
	}
	if c.Secret == "" {
		bad("secret", "must not be empty")
	} else if len(c.Secret) < 16 {
		bad("secret", "too short (%d bytes); use at least 16 random bytes", len(c.Secret))
	}
	for i, s := range c.PreviousSecrets {
		if s == "" {
			bad("previous_secrets", "entry %d is empty", i)
		}
	}
	if c.CredentialTTL <= 0 {
		bad("credential_ttl", "must be positive, got %s", c.CredentialTTL)
	}
	if len(c.MediaIPs) == 0 {
		bad("media_ips", "must list the media server's addresses")
	}
	if _, err := parseAddrs(c.MediaIPs); err != nil {
		bad("media_ips", "%v", err)
	}
	if len(c.MediaUDPPorts)+len(c.MediaTCPPorts) == 0 {
		bad("media_ports", "must list the media server's UDP or ICE-TCP port")
	}
	for _, p := range append(append([]int(nil), c.MediaUDPPorts...), c.MediaTCPPorts...) {
		if p < 1 || p > 65535 {
			bad("media_ports", "%d is not a port", p)
		}
	}
	if _, err := parsePrefixes(c.AllowPeers); err != nil {
		bad("allow_peers", "%v", err)
	}
	if c.MaxAllocationsPerUser < 1 {
		bad("max_allocations_per_user", "must be at least 1, got %d", c.MaxAllocationsPerUser)
	}
	if c.MaxAllocations < 1 {
		bad("max_allocations", "must be at least 1, got %d", c.MaxAllocations)
	}
	if c.MaxAllocationLifetime < time.Minute {
		bad("max_allocation_lifetime", "must be at least 1m, got %s", c.MaxAllocationLifetime)
	}
	if c.BandwidthPerAllocation < 1 {
		bad("bandwidth_per_allocation", "must be a positive number of bytes per second, got %d", c.BandwidthPerAllocation)
	}
	return errors.Join(errs...)
}

func parseAddrs(ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		if err := checkMediaIP(a); err != nil {
			return nil, err
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		if err := checkAllowPrefix(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
