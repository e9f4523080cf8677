package turn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/turn/v5"
	"golang.org/x/time/rate"
)

var (
	errQuota         = errors.New("turn: allocation quota reached")
	errPeerForbidden = errors.New("turn: peer address refused by the relay guard")
	errIPv6Relay     = errors.New("turn: IPv6 relay addresses are not offered")
	errPortOutside   = errors.New("turn: requested relay port is outside the relay port range")
)

// allocation is our view of one pion allocation: its owner and quota slot,
// its bandwidth buckets and the relay socket to close when it grows too old.
type allocation struct {
	userID    string
	transport string
	created   time.Time
	in, out   *rate.Limiter // from peers, to peers
	burst     int

	mu     sync.Mutex
	closer func() error // closes the relay socket; pion then deletes the allocation
	port   int          // TCP relay port, to find the allocation from AllocateConn

	releaseOnce sync.Once
	table       *allocTable
}

// allocTable accounts allocations for quotas and the lifetime sweep.
type allocTable struct {
	maxPerUser, maxTotal int
	bandwidth            int
	m                    *metrics

	mu        sync.Mutex
	perUser   map[string]int
	live      map[*allocation]struct{}
	byTCPPort map[int]*allocation
}

func newAllocTable(cfg Config, m *metrics) *allocTable {
	return &allocTable{
		maxPerUser: cfg.MaxAllocationsPerUser,
		maxTotal:   cfg.MaxAllocations,
		bandwidth:  cfg.BandwidthPerAllocation,
		m:          m,
		perUser:    map[string]int{},
		live:       map[*allocation]struct{}{},
		byTCPPort:  map[int]*allocation{},
	}
}

// admit is pion's QuotaHandler: it answers 486 when userID is at its quota.
func (t *allocTable) admit(userID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.live) >= t.maxTotal:
		t.m.quotaRefusals.WithLabelValues(scopeTotal).Inc()
		return false
	case t.perUser[userID] >= t.maxPerUser:
		t.m.quotaRefusals.WithLabelValues(scopeUser).Inc()
		return false
	}
	return true
}

// reserve takes the quota slot for real when the relay socket is made; admit
// ran earlier without holding anything, so concurrent requests are re-checked
// here (the loser gets 508 Insufficient Capacity instead of 486).
func (t *allocTable) reserve(userID, transport string, now time.Time) (*allocation, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.live) >= t.maxTotal || t.perUser[userID] >= t.maxPerUser {
		return nil, errQuota
	}
	burst := max(t.bandwidth, maxFrame+1)
	a := &allocation{
		userID:    userID,
		transport: transport,
		created:   now,
		in:        rate.NewLimiter(rate.Limit(t.bandwidth), burst),
		out:       rate.NewLimiter(rate.Limit(t.bandwidth), burst),
		burst:     burst,
		table:     t,
	}
	t.perUser[userID]++
	t.live[a] = struct{}{}
	t.m.allocations.WithLabelValues(transport).Inc()
	return a, nil
}

func (a *allocation) release() {
	a.releaseOnce.Do(func() {
		t := a.table
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.perUser[a.userID]--; t.perUser[a.userID] <= 0 {
			delete(t.perUser, a.userID)
		}
		delete(t.live, a)
		a.mu.Lock()
		if a.port != 0 && t.byTCPPort[a.port] == a {
			delete(t.byTCPPort, a.port)
		}
		a.mu.Unlock()
		t.m.allocations.WithLabelValues(a.transport).Dec()
	})
}

func (a *allocation) setCloser(f func() error) {
	a.mu.Lock()
	a.closer = f
	a.mu.Unlock()
}

// expired lists allocations created at least maxLife before now.
func (t *allocTable) expired(now time.Time, maxLife time.Duration) []*allocation {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*allocation
	for a := range t.live {
		if now.Sub(a.created) >= maxLife {
			out = append(out, a)
		}
	}
	return out
}

func (t *allocTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

func (t *allocTable) byPort(port int) *allocation {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byTCPPort[port]
}

// relayGenerator wraps pion's port-range generator so every relay socket is
// counted, capped, guarded and accounted for quotas.
type relayGenerator struct {
	inner    *turn.RelayAddressGeneratorPortRange
	listenIP net.IP
	table    *allocTable
	guard    *Guard
	m        *metrics
	now      func() time.Time
	// ownPorts are the TURN listening ports: a relay must not feed the
	// server its own requests, arriving from the relay address.
	ownPorts []int
}

// peerAllowed is the guard plus the own-ports rule, for every relayed packet
// and connection.
func (g *relayGenerator) peerAllowed(addr net.Addr) bool {
	var port int
	switch a := addr.(type) {
	case *net.UDPAddr:
		port = a.Port
	case *net.TCPAddr:
		port = a.Port
	}
	for _, p := range g.ownPorts {
		if port == p {
			return false
		}
	}
	return g.guard.AllowedAddr(addr)
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

// check refuses what the port-range generator would otherwise try: IPv6
// relays (the relay address is IPv4) and ports outside the configured range
// (a RESERVATION-TOKEN asks for the reserved port + 1).
func (g *relayGenerator) check(conf turn.AllocateListenerConfig) error {
	if conf.Network == "udp6" || conf.Network == "tcp6" {
		return errIPv6Relay
	}
	if p := conf.RequestedPort; p != 0 && (p < int(g.inner.MinPort) || p > int(g.inner.MaxPort)) {
		return errPortOutside
	}
	return nil
}

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if err := g.check(conf); err != nil {
		return nil, nil, err
	}
	if conf.UserID == "" {
		// pion probes for an even port without a user; nothing is relayed.
		return g.inner.AllocatePacketConn(conf)
	}
	a, err := g.table.reserve(conf.UserID, transportUDP, g.now())
	if err != nil {
		return nil, nil, err
	}
	conn, addr, err := g.inner.AllocatePacketConn(conf)
	if err != nil {
		a.release()
		return nil, nil, err
	}
	rc := &relayPacketConn{PacketConn: conn, a: a, g: g}
	a.setCloser(rc.Close)
	return rc, addr, nil
}

func (g *relayGenerator) AllocateListener(conf turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if err := g.check(conf); err != nil {
		return nil, nil, err
	}
	a, err := g.table.reserve(conf.UserID, transportTCP, g.now())
	if err != nil {
		return nil, nil, err
	}
	ln, addr, err := g.inner.AllocateListener(conf)
	if err != nil {
		a.release()
		return nil, nil, err
	}
	rl := &relayListener{Listener: ln, a: a, g: g}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		a.mu.Lock()
		a.port = tcp.Port
		a.mu.Unlock()
		g.table.mu.Lock()
		g.table.byTCPPort[tcp.Port] = a
		g.table.mu.Unlock()
	}
	a.setCloser(rl.Close)
	return rl, addr, nil
}

// AllocateConn dials a peer for an RFC 6062 Connect. pion binds the local end
// to the advertised relay address, which the host may not own behind 1:1
// NAT, so bind to the listen address and the relay port instead.
func (g *relayGenerator) AllocateConn(conf turn.AllocateConnConfig) (net.Conn, error) {
	if !g.peerAllowed(conf.RemoteAddr) {
		return nil, errPeerForbidden
	}
	local, ok := conf.LocalAddr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("turn: relay address %v is not TCP", conf.LocalAddr)
	}
	a := g.table.byPort(local.Port)
	if a == nil {
		return nil, fmt.Errorf("turn: no TCP allocation on relay port %d", local.Port)
	}
	conf.LocalAddr = &net.TCPAddr{IP: g.listenIP, Port: local.Port}
	conn, err := g.inner.AllocateConn(conf)
	if err != nil {
		return nil, err
	}
	return &relayConn{Conn: conn, a: a, g: g}, nil
}

// relayPacketConn is a UDP relay socket. Peers outside the guard are
// ignored both ways; traffic over the bandwidth cap is dropped, as a
// congested link would.
type relayPacketConn struct {
	net.PacketConn
	a         *allocation
	g         *relayGenerator
	closeOnce sync.Once
	closeErr  error
}

func (c *relayPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.g.peerAllowed(addr) {
			continue
		}
		if !c.a.in.AllowN(c.g.now(), n) {
			c.g.m.limitedFromPeer.Add(float64(n))
			continue
		}
		c.g.m.fromPeer.Add(float64(n))
		return n, addr, nil
	}
}

func (c *relayPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.g.peerAllowed(addr) {
		return 0, errPeerForbidden
	}
	if !c.a.out.AllowN(c.g.now(), len(p)) {
		c.g.m.limitedToPeer.Add(float64(len(p)))
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.g.m.toPeer.Add(float64(n))
	return n, err
}

// Close is idempotent: both the lifetime sweep and pion may close it.
func (c *relayPacketConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.PacketConn.Close()
		c.a.release()
	})
	return c.closeErr
}

// relayListener accepts peer connections on a TCP relay address.
type relayListener struct {
	net.Listener
	a         *allocation
	g         *relayGenerator
	closeOnce sync.Once
	closeErr  error
}

func (l *relayListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.g.peerAllowed(conn.RemoteAddr()) {
			_ = conn.Close()
			continue
		}
		return &relayConn{Conn: conn, a: l.a, g: l.g}, nil
	}
}

func (l *relayListener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.Listener.Close()
		l.a.release()
	})
	return l.closeErr
}

// relayConn is one RFC 6062 peer data connection; over the cap it slows
// down instead of dropping, since TCP cannot lose bytes.
type relayConn struct {
	net.Conn
	a *allocation
	g *relayGenerator
}

func (c *relayConn) Read(p []byte) (int, error) {
	if len(p) > c.a.burst {
		p = p[:c.a.burst]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.wait(c.a.in, n)
		c.g.m.fromPeer.Add(float64(n))
	}
	return n, err
}

func (c *relayConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), c.a.burst)]
		c.wait(c.a.out, len(chunk))
		n, err := c.Conn.Write(chunk)
		written += n
		c.g.m.toPeer.Add(float64(n))
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (c *relayConn) wait(l *rate.Limiter, n int) {
	now := c.g.now()
	r := l.ReserveN(now, n)
	if d := r.DelayFrom(now); r.OK() && d > 0 {
		time.Sleep(d)
	}
}
