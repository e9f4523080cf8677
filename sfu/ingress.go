package sfu

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"atlas11/sfu/packetcache"
)

// Direct ingress: pion hands each received packet through four goroutines
// (the socket reader, the ICE connection, the DTLS/SRTP demultiplexer, the
// SRTP session) before the track reader sees it, and on this VM every
// hand-off is a thread wake-up. Once a peer's keys are known and its path is
// the UDP socket, the socket's reader decrypts the peer's media and feedback
// itself and forwards on the spot: a publisher's packet leaves to every
// subscriber without changing goroutine. STUN, DTLS and anything unknown (a
// new SSRC, before pion has announced its track) still go to pion.

// router maps a peer's address on the media socket to what reads its packets.
type router struct {
	mu    sync.Mutex
	peers atomic.Pointer[map[netip.AddrPort]inPeer] // copy-on-write: read per packet
}

// inPeer takes one packet from its peer; false hands it to pion.
type inPeer interface {
	receive(p []byte, now int64) bool
}

func newRouter() *router {
	r := &router{}
	empty := map[netip.AddrPort]inPeer{}
	r.peers.Store(&empty)
	return r
}

// move routes a connection's packets from its old address (if valid) to its
// new one (if valid and p is not nil).
func (r *router) move(from, to netip.AddrPort, p inPeer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := *r.peers.Load()
	next := make(map[netip.AddrPort]inPeer, len(cur)+1)
	for a, q := range cur {
		next[a] = q
	}
	if from.IsValid() {
		delete(next, from)
	}
	if to.IsValid() && p != nil {
		next[to] = p
	}
	r.peers.Store(&next)
}

// receive is the media socket's hook: true when the packet was taken here.
func (r *router) receive(p []byte, from netip.AddrPort) bool {
	if len(p) < 12 || p[0]>>6 != 2 { // not RTP or RTCP (RFC 7983): STUN, DTLS
		return false
	}
	peer := (*r.peers.Load())[from]
	if peer == nil {
		return false
	}
	return peer.receive(p, time.Now().UnixNano())
}

// isRTCP tells RTCP from RTP on a multiplexed port (RFC 5761: RTCP packet
// types 192-223 fall where RTP's marker and payload type 64-95 would be).
func isRTCP(p []byte) bool { return p[1] >= 192 && p[1] <= 223 }

// pubIn reads a publisher connection's media directly. Owned by the socket's
// reader goroutine, except the layer table and keys, which are swapped whole.
type pubIn struct {
	sess   *session
	keys   atomic.Pointer[srtpKeys] // the publisher's sending keys
	layers atomic.Pointer[map[uint32]*layer]
	mu     sync.Mutex // layer table writers
	ctx    *srtp.Context
	hdr    rtp.Header
	buf    [packetcache.BufSize]byte
}

func newPubIn(sess *session) *pubIn {
	p := &pubIn{sess: sess}
	empty := map[uint32]*layer{}
	p.layers.Store(&empty)
	return p
}

// addLayer makes l's packets readable here once its track is announced.
func (p *pubIn) addLayer(l *layer) {
	p.mu.Lock()
	cur := *p.layers.Load()
	next := make(map[uint32]*layer, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[l.ssrc] = l
	p.layers.Store(&next)
	p.mu.Unlock()
}

func (p *pubIn) receive(b []byte, now int64) bool {
	if isRTCP(b) {
		return false // sender reports and SDES: pion's, at a few per second
	}
	l := (*p.layers.Load())[uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11])]
	if l == nil {
		return false // a stream pion has not announced yet
	}
	// Publishers may encrypt header extensions too (cryptex, RFC 9335, which
	// pion negotiates); both forms are accepted.
	if contextOnce(&p.ctx, &p.keys, srtp.Cryptex(srtp.CryptexModeEnabled)) == nil {
		return false
	}
	plain, err := p.ctx.DecryptRTP(p.buf[:0], b, &p.hdr)
	if err != nil || len(plain) > len(p.buf) {
		p.sess.s.m.malformed.Inc()
		return true // what fails here would fail in pion too
	}
	p.sess.s.m.directIn.Inc()
	l.ingest(plain, now)
	return true
}

// subIn reads a subscriber connection's feedback directly.
type subIn struct {
	sess *session
	keys atomic.Pointer[srtpKeys]
	ctx  *srtp.Context
	hdr  rtcp.Header
	buf  [packetcache.BufSize]byte
	nack [packetcache.BufSize]byte
}

func (s *subIn) receive(b []byte, now int64) bool {
	if !isRTCP(b) {
		return false
	}
	if contextOnce(&s.ctx, &s.keys) == nil {
		return false
	}
	plain, err := s.ctx.DecryptRTCP(s.buf[:0], b, &s.hdr)
	if err != nil {
		return true
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return true // malformed feedback is dropped, as pion would
	}
	s.sess.onFeedback(pkts, s.nack[:], now)
	return true
}

// ingestChain runs a publisher's received packets through the receiving
// interceptors (NACK generation, receiver reports, TWCC feedback), whichever
// path brought them: pion's track reader or the socket's reader.
type ingestChain struct {
	ic interceptor.Interceptor
}

// bind returns l's reader through the chain; ingest feeds it.
func (c *ingestChain) bind(l *layer, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	codec := track.Codec()
	info := &interceptor.StreamInfo{
		SSRC: uint32(track.SSRC()), PayloadType: uint8(codec.PayloadType),
		MimeType: codec.MimeType, ClockRate: codec.ClockRate, Channels: codec.Channels,
		SDPFmtpLine: codec.SDPFmtpLine,
	}
	for _, fb := range codec.RTCPFeedback {
		info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: fb.Type, Parameter: fb.Parameter})
	}
	for _, e := range recv.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: e.URI, ID: e.ID})
	}
	l.in = c.ic.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, l.cur), a, nil
	}))
}

// ingest takes one decrypted packet of l, from either path, one at a time.
func (l *layer) ingest(pkt []byte, now int64) {
	l.inMu.Lock()
	if l.in != nil {
		if l.attrs == nil {
			l.attrs = interceptor.Attributes{}
		}
		clear(l.attrs) // the interceptors share the parsed header through it, per packet
		l.cur = pkt
		_, _, _ = l.in.Read(pkt, l.attrs) // the interceptors note it; the bytes stay as they are
		l.cur = nil
	}
	l.src.handlePacket(l, pkt, now)
	l.inMu.Unlock()
}

// onFeedback acts on a subscriber's feedback read by the socket's reader: the
// estimator takes the TWCC reports, each track what names its SSRC.
func (sess *session) onFeedback(pkts []rtcp.Packet, buf []byte, now int64) {
	sess.mu.Lock()
	var est *bwe
	if sess.egress != nil {
		est = sess.egress.est
	}
	var downs [4]*downTrack
	ds := downs[:0]
	for _, st := range sess.downs {
		ds = append(ds, st.d)
	}
	sess.mu.Unlock()
	if est != nil {
		_ = est.onRTCP(pkts)
	}
	for _, p := range pkts {
		if r, ok := p.(*rtcp.ReceiverEstimatedMaximumBitrate); ok {
			sess.remb.Store(uint64(r.Bitrate))
			continue
		}
		for _, ssrc := range p.DestinationSSRC() {
			for _, d := range ds {
				d.mu.Lock()
				mine := d.ssrc == ssrc
				d.mu.Unlock()
				if mine {
					d.onRTCP(p, buf, now, nil)
				}
			}
		}
	}
}
