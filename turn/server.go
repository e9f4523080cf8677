// Package turn is Atlas11's built-in TURN relay: UDP, TCP and TLS listeners,
// short-lived TURN REST credentials, a relay guard that lets relays reach the
// media server and nothing else, quotas and metrics. Built on pion/turn.
package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are the server's collaborators, passed in by the caller.
type Deps struct {
	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil uses a private registry
	Now        func() time.Time      // nil uses time.Now
}

const (
	// defaultFirstRead bounds a TCP/TLS client's TLS handshake and first request.
	defaultFirstRead = 10 * time.Second
	// defaultIdle closes TCP/TLS connections silent for this long; clients
	// with an allocation refresh it well within this.
	defaultIdle = 15 * time.Minute
	// sweepInterval is how often allocations past their maximum lifetime are closed.
	sweepInterval = 5 * time.Second
)

// Server is a running TURN relay.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	guard    *Guard
	verifier *verifier
	m        *metrics
	allocs   *allocTable
	pion     *turn.Server

	udp       net.PacketConn
	listeners []*verifyingListener
	port      int
	tlsPort   int

	stop      chan struct{}
	swept     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds the listeners and starts serving. A port in use
// is reported as an error naming its key.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	media, _ := parseAddrs(cfg.MediaIPs)      // validated above
	allow, _ := parsePrefixes(cfg.AllowPeers) // validated above
	var self []netip.Addr
	for _, s := range []string{cfg.ListenAddress, cfg.RelayAddress} {
		if a, err := netip.ParseAddr(s); err == nil {
			self = append(self, a)
		}
	}

	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg,
		log: deps.Logger.With("component", "turn"),
		now: deps.Now,
		guard: NewGuard(GuardConfig{MediaIPs: media, UDPPorts: cfg.MediaUDPPorts, TCPPorts: cfg.MediaTCPPorts,
			Self: self, Allow: allow}),
		verifier: newVerifier(cfg.Realm, deps.Now, cfg.Secret, cfg.PreviousSecrets),
		m:        m,
		allocs:   newAllocTable(cfg, m),
		stop:     make(chan struct{}),
	}
	if err := s.listen(); err != nil {
		s.closeListeners()
		m.unregister()
		return nil, err
	}
	if err := s.startPion(); err != nil {
		s.closeListeners()
		m.unregister()
		return nil, err
	}
	s.swept.Add(1)
	go s.sweepLoop()
	s.log.Info("TURN relay listening", "udp", s.udp.LocalAddr().String(), "port", s.port,
		"tls_port", s.tlsPort, "relay_address", cfg.RelayAddress,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	return s, nil
}

func (s *Server) listen() error {
	host := s.cfg.ListenAddress
	// With port 0 the UDP and TCP listeners must still share one port, since
	// the ICE server URLs carry a single port.
	attempts := 1
	if s.cfg.Port == 0 {
		attempts = 20
	}
	var lastErr error
	for range attempts {
		udp, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)))
		if err != nil {
			return fmt.Errorf("turn.port: cannot listen on UDP %s:%d: %w", host, s.cfg.Port, err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			_ = udp.Close()
			lastErr = fmt.Errorf("turn.port: cannot listen on TCP %s:%d: %w", host, port, err)
			continue
		}
		s.udp, s.port = udp, port
		s.listeners = append(s.listeners, newVerifyingListener(tcp, s.verifier, s.cfg.connTimeouts()))
		lastErr = nil
		break
	}
	if lastErr != nil {
		return lastErr
	}
	if !s.cfg.TLSEnabled() {
		return nil
	}
	tc := &tls.Config{GetCertificate: s.cfg.GetCertificate, MinVersion: tls.VersionTLS12}
	if tc.GetCertificate == nil {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("turn.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tl, err := tls.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(s.cfg.TLSPort)), tc)
	if err != nil {
		return fmt.Errorf("turn.tls_port: cannot listen on TLS %s:%d: %w", host, s.cfg.TLSPort, err)
	}
	s.tlsPort = tl.Addr().(*net.TCPAddr).Port
	s.listeners = append(s.listeners, newVerifyingListener(tl, s.verifier, s.cfg.connTimeouts()))
	return nil
}

func (s *Server) startPion() error {
	gen := &relayGenerator{
		inner: &turn.RelayAddressGeneratorPortRange{
			RelayAddress: net.ParseIP(s.cfg.RelayAddress),
			Address:      s.cfg.ListenAddress,
			MinPort:      uint16(s.cfg.RelayPortMin), //nolint:gosec // validated 1..65535
			MaxPort:      uint16(s.cfg.RelayPortMax), //nolint:gosec // validated 1..65535
			MaxRetries:   50,
		},
		listenIP: net.ParseIP(s.cfg.ListenAddress),
		table:    s.allocs,
		guard:    s.guard,
		m:        s.m,
		now:      s.now,
		ownPorts: []int{s.port},
	}
	if s.tlsPort != 0 {
		gen.ownPorts = append(gen.ownPorts, s.tlsPort)
	}
	pc := turn.PacketConnConfig{
		PacketConn:            &verifyingPacketConn{PacketConn: s.udp, v: s.verifier},
		RelayAddressGenerator: gen,
		PermissionHandler:     s.permit,
	}
	var lcs []turn.ListenerConfig
	for _, l := range s.listeners {
		lcs = append(lcs, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{pc},
		ListenerConfigs:   lcs,
		LoggerFactory:     slogFactory{log: s.log},
		Realm:             s.cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler: func(userID, _ string, _ net.Addr) bool {
			return s.allocs.admit(userID)
		},
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, _, _, _ string, ok bool) {
				if !ok {
					s.m.authFailures.WithLabelValues(reasonBadCredentials).Inc()
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("turn: start server: %w", err)
	}
	s.pion = srv
	return nil
}

// authenticate is pion's AuthHandler. A new allocation needs an unexpired
// username; requests on an existing allocation (refresh, permissions,
// channels) keep working after expiry so a call is not cut mid-way, within
// the maximum allocation lifetime, which bounds how long one can exist.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	expiry, userID, err := ParseUsername(ra.Username)
	if err != nil {
		return s.refuse(reasonMalformed, ra)
	}
	if now := s.now(); now.After(expiry) {
		if ra.Method == stun.MethodAllocate || now.Sub(expiry) > s.cfg.MaxAllocationLifetime {
			return s.refuse(reasonExpired, ra)
		}
	}
	key, ok := s.verifier.lookup(ra.SrcAddr, ra.Username)
	if !ok {
		return s.refuse(reasonBadCredentials, ra)
	}
	return userID, key, true
}

func (s *Server) refuse(reason string, ra *turn.RequestAttributes) (string, []byte, bool) {
	s.m.authFailures.WithLabelValues(reason).Inc()
	s.log.Debug("TURN request refused", "reason", reason, "method", ra.Method.String(), "client", addrString(ra.SrcAddr))
	return "", nil, false
}

// permit is pion's PermissionHandler for CreatePermission, ChannelBind and
// Connect, on every listener. pion hands over the peer IP only; the ports
// come from the request being handled (see requestPeers), so a permission,
// channel or connection naming a media IP on any port but a media port is
// refused here, and the relay sockets drop such traffic anyway.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	if s.permitted(client, peer) {
		return true
	}
	transport := transportUDP
	if _, ok := client.(*net.TCPAddr); ok {
		transport = transportTCP
	}
	s.m.permissionRefusals.WithLabelValues(transport).Inc()
	s.log.Debug("TURN peer refused by the relay guard", "client", addrString(client), "peer", peer.String())
	return false
}

func (s *Server) permitted(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok || !s.guard.Allowed(ip) {
		return false
	}
	ports, method := s.verifier.requestPorts(client, ip)
	network := AnyNetwork
	switch _, udpClient := client.(*net.UDPAddr); {
	case method == stun.MethodConnect:
		network = TCP
	case method == stun.MethodChannelBind || udpClient:
		// Channels exist on UDP relays only (RFC 6062 §6.2), and a client
		// over UDP holds UDP relays only.
		network = UDP
	}
	if len(ports) == 0 {
		// Every permission-bearing request names its peer with a port; not
		// knowing it means something is out of step: refuse.
		return false
	}
	for _, ap := range ports {
		if !s.guard.AllowedPort(ap, network) {
			return false
		}
	}
	return true
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Server) sweepLoop() {
	defer s.swept.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep closes allocations that reached the maximum allocation lifetime.
func (s *Server) sweep() {
	for _, a := range s.allocs.expired(s.now(), s.cfg.MaxAllocationLifetime) {
		a.mu.Lock()
		closer := a.closer
		a.mu.Unlock()
		if closer == nil {
			continue
		}
		s.m.lifetimeClosed.Inc()
		s.log.Info("TURN allocation reached its maximum lifetime", "user", a.userID, "transport", a.transport)
		_ = closer()
	}
}

// Port is the UDP and TCP listening port.
func (s *Server) Port() int { return s.port }

// TLSPort is the TURN-over-TLS port, 0 when TLS is off.
func (s *Server) TLSPort() int { return s.tlsPort }

// AllocationCount is the number of allocations currently held.
func (s *Server) AllocationCount() int {
	return s.allocs.count()
}

// Credentials mints credentials for userID with the current secret and the
// configured TTL.
func (s *Server) Credentials(userID string) (username, password string, err error) {
	username, password = Credentials(s.verifier.current(), userID, s.cfg.CredentialTTL, s.now())
	if _, _, err := ParseUsername(username); err != nil {
		return "", "", fmt.Errorf("turn: user ID %q cannot be put in a TURN username: %w", userID, err)
	}
	return username, password, nil
}

// ICEServers mints credentials for userID and returns the ICE server list
// for the browser. Call it only for users admitted to a call (CALL-1).
func (s *Server) ICEServers(userID string) ([]ICEServer, error) {
	username, password, err := s.Credentials(userID)
	if err != nil {
		return nil, err
	}
	host := s.cfg.PublicHost
	if host == "" {
		host = s.cfg.RelayAddress
	}
	return ICEServers(host, s.port, s.tlsPort, username, password), nil
}

// SetSecrets rotates secrets without a restart: current mints and verifies,
// previous ones are still accepted.
func (s *Server) SetSecrets(current string, previous ...string) error {
	if current == "" {
		return errors.New("turn.secret: must not be empty")
	}
	for i, p := range previous {
		if p == "" {
			return fmt.Errorf("turn.previous_secrets: entry %d is empty", i)
		}
	}
	s.verifier.setSecrets(current, previous)
	return nil
}

// Close stops the listeners, closes client connections and allocations, and
// unregisters the metrics.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.swept.Wait()
		s.closeErr = s.pion.Close()
		for _, l := range s.listeners {
			l.closeConns()
		}
		s.m.unregister()
	})
	return s.closeErr
}

func (s *Server) closeListeners() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	for _, l := range s.listeners {
		_ = l.Close()
	}
}
