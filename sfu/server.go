// Package sfu is Atlas11's WebRTC media server: rooms, peers, forwarding,
// simulcast layer selection, bandwidth estimation and signaling. It reaches the
// control plane only through the Admitter and PresenceObserver it declares.
package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the media server's configuration. Zero values take the defaults.
type Config struct {
	// UDPPort is the one UDP port all peers share (ICE UDP mux); 0 picks a free port.
	UDPPort int
	// TCPPort is the ICE-TCP fallback port; 0 picks a free port, -1 disables ICE-TCP.
	TCPPort int
	// ListenIP restricts both ports to one address; empty listens on all.
	ListenIP string
	// PublicIPs are announced instead of the host's addresses (1:1 NAT).
	PublicIPs []string
	// IncludeLoopback offers loopback candidates (tests and single-host setups).
	IncludeLoopback bool
	// ReconnectGrace is how long a lost participant keeps their place and presence.
	ReconnectGrace time.Duration
	// VideoQueue and AudioQueue bound each subscriber track's egress queue (packets).
	VideoQueue, AudioQueue int
	// CacheSize is the per-layer NACK packet cache (packets).
	CacheSize int
	// MaxParticipants is the most guests one room carries, whatever the admission says.
	MaxParticipants int
	// InitialBitrate and MaxBitrate bound the per-subscriber bandwidth estimate (bps).
	InitialBitrate, MaxBitrate int
	// SelectInterval is the period of layer selection and of the grace sweep.
	SelectInterval time.Duration
	// JoinTimeout bounds the wait for the first (join) message.
	JoinTimeout time.Duration
	// ChatRate (messages a second) and ChatBurst bound each participant's chat:
	// one flooding sender must not bury the others' signaling.
	ChatRate  float64
	ChatBurst int
}

func (c *Config) setDefaults() {
	if c.ReconnectGrace == 0 {
		c.ReconnectGrace = 5 * time.Second
	}
	if c.VideoQueue == 0 {
		c.VideoQueue = 512
	}
	if c.AudioQueue == 0 {
		c.AudioQueue = 64
	}
	if c.CacheSize == 0 {
		c.CacheSize = 512
	}
	if c.MaxParticipants == 0 {
		c.MaxParticipants = 49
	}
	if c.InitialBitrate == 0 {
		c.InitialBitrate = 2_500_000
	}
	if c.MaxBitrate == 0 {
		c.MaxBitrate = 10_000_000
	}
	if c.SelectInterval == 0 {
		c.SelectInterval = 250 * time.Millisecond
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.ChatRate == 0 {
		c.ChatRate = 5
	}
	if c.ChatBurst == 0 {
		c.ChatBurst = 10
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.UDPPort < 0 || c.UDPPort > 65535:
		return fmt.Errorf("sfu: UDPPort %d out of range", c.UDPPort)
	case c.TCPPort < -1 || c.TCPPort > 65535:
		return fmt.Errorf("sfu: TCPPort %d out of range", c.TCPPort)
	case c.MaxParticipants < 1:
		return fmt.Errorf("sfu: MaxParticipants must be at least 1")
	case c.ReconnectGrace < 0:
		return fmt.Errorf("sfu: ReconnectGrace must not be negative")
	case c.VideoQueue < 4 || c.AudioQueue < 4:
		return fmt.Errorf("sfu: queues must hold at least 4 packets")
	case c.ChatRate < 0 || c.ChatBurst < 0:
		return fmt.Errorf("sfu: ChatRate and ChatBurst must not be negative")
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("sfu: public IP %q is not an IP address", ip)
		}
	}
	if c.ListenIP != "" && net.ParseIP(c.ListenIP) == nil {
		return fmt.Errorf("sfu: ListenIP %q is not an IP address", c.ListenIP)
	}
	return nil
}

// Deps are what the server needs from the rest of the binary.
type Deps struct {
	Admitter Admitter
	Presence PresenceObserver
	// Now is the control plane's clock; presence times follow it.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server is the media server.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *metrics
	apis *apis

	udp    net.PacketConn
	tcp    net.Listener
	udpMux ice.UDPMux
	eg     *egress
	router *router // direct ingress: peers whose packets the socket's reader takes (ingress.go)
	tcpMux ice.TCPMux

	mu      sync.Mutex
	rooms   map[string]*room
	closing bool
	wg      sync.WaitGroup
}

// New listens on the media ports and returns a ready server.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Admitter == nil || deps.Presence == nil {
		return nil, errors.New("sfu: Admitter and Presence are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("sfu: metrics: %w", err)
	}
	m.log = deps.Logger
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, m: m, rooms: map[string]*room{}}

	s.udp, err = net.ListenPacket("udp", net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("sfu: listen UDP: %w", err)
	}
	if uc, ok := s.udp.(*net.UDPConn); ok {
		// One socket carries every peer: a deep kernel buffer rides out bursts
		// (the kernel caps it at net.core.rmem_max / wmem_max).
		_ = uc.SetReadBuffer(8 << 20)
		_ = uc.SetWriteBuffer(8 << 20)
	}
	lf := pionLogs{log: s.log}
	muxConn := s.udp
	var bc *batchConn
	if uc, ok := s.udp.(*net.UDPConn); ok {
		if bc = newBatchConn(uc); bc != nil {
			bc.refused = m.sendRefused
			s.router = newRouter()
			bc.ingress = s.router.receive
			muxConn = bc
		}
	}
	s.eg = newEgress(bc, egressWorkers)
	s.udpMux = webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), muxConn)
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(s.udpMux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort >= 0 {
		s.tcp, err = net.Listen("tcp", net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			_ = s.udp.Close()
			return nil, fmt.Errorf("sfu: listen ICE-TCP: %w", err)
		}
		s.tcpMux = webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), s.tcp, 64)
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetLite(false)
	se.SetICETimeouts(5*time.Second, 25*time.Second, 2*time.Second)
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			s.closePorts()
			return nil, fmt.Errorf("sfu: public IPs: %w", err)
		}
	}
	s.apis, err = newAPIs(se, lf)
	if err != nil {
		s.closePorts()
		return nil, fmt.Errorf("sfu: pion: %w", err)
	}
	return s, nil
}

// UDPAddr is the media UDP port's address.
func (s *Server) UDPAddr() net.Addr { return s.udp.LocalAddr() }

// TCPAddr is the ICE-TCP port's address, or nil when disabled.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Handler returns the signaling WebSocket handler.
func (s *Server) Handler() http.Handler { return s }

func (s *Server) closePorts() {
	if s.eg != nil {
		s.eg.close()
	}
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	_ = s.udp.Close()
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
}

// Close drains the server: every participant is told the server is shutting down
// and recorded as leaving now, then the media ports close. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.shutdown()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.log.Warn("sfu: sessions still running after 10s of shutdown")

	}
	s.closePorts()
	return nil
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// roomFor returns the room of an admission, creating it.
func (s *Server) roomFor(a Admission) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, Refusef(CodeShuttingDown, "the media server is shutting down")
	}
	r := s.rooms[a.Room]
	if r == nil {
		r = newRoom(s, a)
		s.rooms[a.Room] = r
		s.m.rooms.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.run()
		}()
	}
	return r, nil
}

// dropRoom forgets an empty room.
func (s *Server) dropRoom(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
		s.m.rooms.Dec()
	}
}

// presence reports one presence event; the observer is called outside all locks.
func (s *Server) presence(r *room, a Admission, joined bool, at time.Time) {
	s.deps.Presence.Presence(PresenceEvent{Room: r.id, User: a.User, Role: a.Role, Joined: joined, At: at})
}

// admit checks the join message against the control plane.
func (s *Server) admit(ctx context.Context, msg ClientMessage) (Admission, error) {
	a, err := s.deps.Admitter.Admit(ctx, msg.Token)
	if err != nil {
		var r *RefusalError
		if errors.As(err, &r) {
			return Admission{}, r
		}
		s.log.Error("sfu: admitter failed", "err", err)
		return Admission{}, Refusef(CodeInternal, "admission failed")
	}
	if msg.Room != "" && msg.Room != a.Room {
		return Admission{}, Refusef(CodeWrongRoom, "this token is for another room")
	}
	if !a.Expires.IsZero() && !s.deps.Now().Before(a.Expires) {
		return Admission{}, Refusef(CodeTokenExpired, "the token has expired")
	}
	switch {
	case a.Room == "" || a.User == "":
		return Admission{}, Refusef(CodeInternal, "admission without room or user")
	case a.Role != RoleHost && a.Role != RoleGuest:
		return Admission{}, Refusef(CodeInternal, "admission with unknown role %q", a.Role)
	case a.Kind != KindAppointment && a.Kind != KindEvent:
		return Admission{}, Refusef(CodeInternal, "admission with unknown kind %q", a.Kind)
	case a.Media != MediaVideo && a.Media != MediaAudio && a.Media != MediaChat:
		return Admission{}, Refusef(CodeInternal, "admission with unknown media %q", a.Media)
	}
	return a, nil
}
