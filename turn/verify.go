package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
)

// pion asks its AuthHandler for exactly one key per request, but during a
// secret rotation a username may be signed with the current or a previous
// secret. The verifier sees each request before pion does (it wraps the
// listeners), finds which secret's key passes MESSAGE-INTEGRITY, and keeps
// that key for the AuthHandler, keyed by client address and username.
// pion then checks integrity again with that key.
type verifier struct {
	realm   string
	now     func() time.Time
	secrets atomic.Pointer[[]string] // [0] is current

	mu        sync.Mutex
	verified  map[string]verifiedKey
	peers     map[string]requestPeers
	lastSweep time.Time
}

// requestPeers are the peer addresses (with ports) named by the latest
// CreatePermission, ChannelBind or Connect request from one client. pion's
// PermissionHandler sees only the peer IP; pion handles a client's requests
// one at a time, right after the verifier saw them (one datagram per read on
// UDP, one frame per read on TCP), so the handler finds the ports here.
type requestPeers struct {
	method stun.Method
	peers  []netip.AddrPort
	at     time.Time
}

type verifiedKey struct {
	key []byte
	at  time.Time
}

const (
	verifiedTTL      = 10 * time.Minute
	maxVerifiedCache = 100_000
)

func newVerifier(realm string, now func() time.Time, current string, previous []string) *verifier {
	v := &verifier{realm: realm, now: now, verified: map[string]verifiedKey{}, peers: map[string]requestPeers{}}
	v.setSecrets(current, previous)
	return v
}

func (v *verifier) setSecrets(current string, previous []string) {
	all := append([]string{current}, previous...)
	v.secrets.Store(&all)
}

func (v *verifier) current() string { return (*v.secrets.Load())[0] }

func stashKey(src net.Addr, username string) string {
	return src.Network() + "/" + src.String() + "/" + username
}

// observe inspects one datagram or stream frame from src. It never fails:
// anything it cannot verify is left for pion to refuse.
func (v *verifier) observe(src net.Addr, b []byte) {
	if !stun.IsMessage(b) || src == nil {
		return
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return
	}
	v.recordPeers(src, m)
	if !m.Contains(stun.AttrMessageIntegrity) {
		return
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return
	}
	username := user.String()
	k := stashKey(src, username)
	var key []byte
	if realm.String() == v.realm {
		for _, secret := range *v.secrets.Load() {
			candidate := longTermKey(username, v.realm, restPassword(secret, username))
			if stun.MessageIntegrity(candidate).Check(m) == nil {
				key = candidate
				break
			}
		}
	}

	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if key == nil {
		delete(v.verified, k)
		return
	}
	v.sweepLocked(now)
	v.verified[k] = verifiedKey{key: key, at: now}
}

// recordPeers keeps the peer addresses of a permission-bearing request from
// src, and forgets them at src's next STUN message.
func (v *verifier) recordPeers(src net.Addr, m *stun.Message) {
	k := src.Network() + "/" + src.String()
	var rp requestPeers
	if m.Type.Class == stun.ClassRequest {
		switch m.Type.Method {
		case stun.MethodCreatePermission, stun.MethodChannelBind, stun.MethodConnect:
			rp.method = m.Type.Method
			_ = m.ForEach(stun.AttrXORPeerAddress, func(m *stun.Message) error {
				var a stun.XORMappedAddress
				if a.GetFromAs(m, stun.AttrXORPeerAddress) == nil {
					if ap, ok := addrPort(a.IP, a.Port); ok {
						rp.peers = append(rp.peers, ap)
					}
				}
				return nil
			})
		}
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if rp.method == 0 {
		delete(v.peers, k)
		return
	}
	if len(v.peers) >= maxVerifiedCache {
		clear(v.peers) // as for verified: a flood only costs its own precision
	}
	rp.at = now
	v.peers[k] = rp
}

// requestPorts returns the peer addresses on ip named by the request being
// handled for src, and that request's method.
func (v *verifier) requestPorts(src net.Addr, ip netip.Addr) ([]netip.AddrPort, stun.Method) {
	if src == nil {
		return nil, 0
	}
	v.mu.Lock()
	rp, ok := v.peers[src.Network()+"/"+src.String()]
	v.mu.Unlock()
	if !ok {
		return nil, 0
	}
	ip = ip.Unmap()
	var out []netip.AddrPort
	for _, ap := range rp.peers {
		if ap.Addr().Unmap() == ip {
			out = append(out, ap)
		}
	}
	return out, rp.method
}

// lookup returns the key that verified the latest request from src with username.
func (v *verifier) lookup(src net.Addr, username string) ([]byte, bool) {
	if src == nil {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.verified[stashKey(src, username)]
	return e.key, ok
}

func (v *verifier) sweepLocked(now time.Time) {
	if len(v.verified) >= maxVerifiedCache {
		// Only a flood of correctly signed requests gets here; start afresh
		// rather than grow: clients re-verify with their next request.
		clear(v.verified)
	}
	if now.Sub(v.lastSweep) < time.Minute {
		return
	}
	v.lastSweep = now
	for k, e := range v.verified {
		if now.Sub(e.at) > verifiedTTL {
			delete(v.verified, k)
		}
	}
	for k, e := range v.peers {
		if now.Sub(e.at) > verifiedTTL {
			delete(v.peers, k)
		}
	}
}

// verifyingPacketConn shows every datagram to the verifier before pion reads it.
type verifyingPacketConn struct {
	net.PacketConn
	v *verifier
}

func (c *verifyingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err == nil {
		c.v.observe(addr, p[:n])
	}
	return n, addr, err
}

// frameResult classifies the start of a TURN-over-TCP stream buffer.
type frameResult int

const (
	frameComplete frameResult = iota
	frameIncomplete
	frameInvalid
)

// maxFrame is the largest STUN or padded ChannelData frame (65535 + header).
const maxFrame = 65535 + 20

// nextFrame finds the first STUN or ChannelData frame in a TCP stream buffer,
// with the same rules as pion's STUNConn so both see the same frames.
func nextFrame(b []byte) (int, frameResult) {
	if len(b) < 9 {
		return 0, frameIncomplete
	}
	var size int
	switch num := binary.BigEndian.Uint16(b[0:2]); {
	case stun.IsMessage(b):
		size = int(binary.BigEndian.Uint16(b[2:4])) + 20
	case num >= 0x4000 && num <= 0x7FFF:
		size = (int(binary.BigEndian.Uint16(b[2:4]))+3)&^3 + 4
	case len(b) < 20:
		return 0, frameIncomplete
	default:
		return 0, frameInvalid
	}
	if len(b) < size {
		return 0, frameIncomplete
	}
	return size, frameComplete
}

// streamObserver re-frames a TURN-over-TCP byte stream on the side. After
// an RFC 6062 ConnectionBind the stream carries raw peer data; once framing
// fails it stops looking.
type streamObserver struct {
	buf []byte
	off bool
}

// feedOne takes bytes from b up to the end of the first frame they
// complete, shows that frame, and returns how many bytes it took: the
// caller hands pion those first, so pion handles each request right after
// it was observed (the PermissionHandler relies on that).
func (o *streamObserver) feedOne(b []byte, frame func([]byte)) int {
	if o.off || len(b) == 0 {
		return len(b)
	}
	had := len(o.buf)
	o.buf = append(o.buf, b...)
	for {
		n, res := nextFrame(o.buf)
		switch res {
		case frameInvalid:
			o.off, o.buf = true, nil
			return len(b)
		case frameIncomplete:
			if len(o.buf) > maxFrame {
				o.off, o.buf = true, nil
			}
			return len(b)
		}
		frame(o.buf[:n])
		if n <= had {
			// A frame shorter than the 9 bytes framing needs, already handed
			// over (only tiny ChannelData): look further.
			o.buf, had = o.buf[n:], had-n
			continue
		}
		o.buf = nil
		return n - had
	}
}

// verifyingListener shows TCP/TLS requests to the verifier, bounds how long
// a client may stay silent, and closes its connections on shutdown. It wraps
// above TLS so the verifier sees plaintext.
type verifyingListener struct {
	net.Listener
	v        *verifier
	timeouts connTimeouts

	mu    sync.Mutex
	conns map[*verifyingConn]struct{}
}

func newVerifyingListener(l net.Listener, v *verifier, t connTimeouts) *verifyingListener {
	return &verifyingListener{Listener: l, v: v, timeouts: t, conns: map[*verifyingConn]struct{}{}}
}

func (l *verifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	vc := &verifyingConn{Conn: c, l: l, timeout: l.timeouts.firstRead}
	l.mu.Lock()
	l.conns[vc] = struct{}{}
	l.mu.Unlock()
	return vc, nil
}

func (l *verifyingListener) closeConns() {
	l.mu.Lock()
	conns := make([]*verifyingConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type verifyingConn struct {
	net.Conn
	l       *verifyingListener
	obs     streamObserver
	timeout time.Duration
	// pending holds bytes read past the end of a frame, for the next Read;
	// readErr is the error that came with them.
	pending []byte
	readErr error
}

// Read returns at most one complete frame's end per call, so each request
// is observed just before pion handles it.
func (c *verifyingConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		n, err := c.Conn.Read(p)
		if n == 0 {
			return 0, err
		}
		c.timeout = c.l.timeouts.idle
		c.pending, c.readErr = append(c.pending[:0], p[:n]...), err
	}
	take := c.obs.feedOne(c.pending[:min(len(c.pending), len(p))],
		func(frame []byte) { c.l.v.observe(c.Conn.RemoteAddr(), frame) })
	n := copy(p, c.pending[:take])
	c.pending = c.pending[n:]
	if len(c.pending) == 0 && c.readErr != nil {
		err := c.readErr
		c.readErr = nil
		return n, err
	}
	return n, nil
}

func (c *verifyingConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
