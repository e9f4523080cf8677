package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"atlas11/sfu/packetcache"
)

// keyframeInterval is the throttle on keyframe requests, per publisher layer.
const keyframeInterval = 500 * time.Millisecond

// maxReplay bounds how many cached packets a new subscriber is sent from the last
// keyframe; beyond it a fresh keyframe is requested instead.
const maxReplay = 200

// source is one published track (audio, or video with up to three simulcast
// layers) and the subscriber tracks it feeds.
type source struct {
	id       string // unique in the room
	owner    string // publishing user
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecCapability
	m        *metrics
	writePLI func(ssrc uint32) error

	layers [3]atomic.Pointer[layer]

	mu    sync.Mutex
	downs atomic.Pointer[[]*downTrack] // copy-on-write: read per packet without locking
	plis  [3]int64                     // unix nanos of the last keyframe request, per layer
}

// layer is one simulcast encoding (or the only one) of a source.
type layer struct {
	src   *source
	idx   int
	ssrc  uint32
	cache *packetcache.Cache
	bytes atomic.Uint64
	rate  atomic.Int64 // bits per second, smoothed
	last  atomic.Int64 // unix nanos of the last packet
	// owned by the layer's reader goroutine
	lastSeq    uint16
	haveSeq    bool
	prevBytes  uint64
	prevRateAt int64
	replayBuf  [packetcache.BufSize]byte
	// ingest's: one packet at a time through the receiving interceptors (ingress.go)
	inMu  sync.Mutex
	in    interceptor.RTPReader
	cur   []byte
	attrs interceptor.Attributes
}

func newSource(id, owner string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecCapability, m *metrics, writePLI func(uint32) error) *source {
	s := &source{id: id, owner: owner, kind: kind, codec: codec, m: m, writePLI: writePLI}
	empty := []*downTrack{}
	s.downs.Store(&empty)
	return s
}

func (s *source) addLayer(idx int, ssrc uint32, cacheSize int) *layer {
	l := &layer{src: s, idx: idx, ssrc: ssrc, cache: packetcache.New(cacheSize)}
	s.layers[idx].Store(l)
	return l
}

func (s *source) addDown(d *downTrack) {
	s.mu.Lock()
	old := *s.downs.Load()
	next := make([]*downTrack, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, d)
	s.downs.Store(&next)
	s.mu.Unlock()
}

func (s *source) removeDown(d *downTrack) {
	s.mu.Lock()
	old := *s.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	s.downs.Store(&next)
	s.mu.Unlock()
}

// handlePacket is the forwarding hot path: one packet from the publisher, cached
// once and queued to every subscriber. It allocates nothing.
func (s *source) handlePacket(l *layer, raw []byte, now int64) {
	h, payload, ok := parseRTP(raw)
	if !ok {
		s.m.malformed.Inc()
		return
	}
	s.m.packetsIn.Inc()
	s.m.bytesIn.Add(float64(len(raw)))
	l.bytes.Add(uint64(len(raw)))
	l.last.Store(now)
	if len(payload) == 0 { // padding only
		return
	}
	kf := s.kind == webrtc.RTPCodecTypeAudio || vp8KeyframeStart(payload)
	l.cache.Store(h.seq, raw, kf)
	if !l.haveSeq || packetcache.SeqLess(l.lastSeq, h.seq) {
		l.lastSeq, l.haveSeq = h.seq, true
	}
	// Subscribers reached over UDP are written right here, in one batch.
	var pass *egress
	for _, d := range *s.downs.Load() {
		if d.inline == nil || !d.inline.Load() {
			if queued, _ := d.forward(l, &h, payload, kf, now, nil); queued {
				d.eg.schedule(d)
			}
			continue
		}
		if pass == nil {
			pass = d.eg
			pass.beginPass()
		}
		d.forwardInline(l, &h, payload, kf, now)
	}
	if pass != nil {
		pass.endPass()
	}
}

// requestKeyframe sends a PLI for a layer, at most once per keyframeInterval.
func (s *source) requestKeyframe(idx int, now int64) {
	if s.kind != webrtc.RTPCodecTypeVideo || idx < 0 || idx > 2 {
		return
	}
	l := s.layers[idx].Load()
	if l == nil {
		return
	}
	s.mu.Lock()
	if now-s.plis[idx] < int64(keyframeInterval) {
		s.mu.Unlock()
		return
	}
	s.plis[idx] = now
	s.mu.Unlock()
	if s.writePLI != nil && s.writePLI(l.ssrc) == nil {
		s.m.plis.Inc()
	}
}

// updateRates refreshes each layer's smoothed bitrate; called by the room ticker.
func (s *source) updateRates(now int64) {
	for i := range s.layers {
		l := s.layers[i].Load()
		if l == nil {
			continue
		}
		b := l.bytes.Load()
		if l.prevRateAt != 0 && now > l.prevRateAt {
			inst := int64(float64(b-l.prevBytes) * 8 / (float64(now-l.prevRateAt) / 1e9))
			old := l.rate.Load()
			if old == 0 {
				l.rate.Store(inst)
			} else {
				l.rate.Store((old*3 + inst) / 4)
			}
		}
		l.prevBytes, l.prevRateAt = b, now
		if now-l.last.Load() > int64(2*time.Second) {
			l.rate.Store(0) // the publisher stopped sending this layer
		}
	}
}

// switchRecord maps a range of egress sequence numbers back to a layer.
type switchRecord struct {
	outStart uint16
	layer    int
	seqOff   uint16
	tsOff    uint32
}

// downTrack is what one subscriber receives of one source: a single continuous
// RTP stream whatever layer it carries. It implements webrtc.TrackLocal.
type downTrack struct {
	id, streamID string
	src          *source
	m            *metrics
	q            *queue
	onFirst      func()      // first packet written (join-to-first-packet metric)
	stopped      atomic.Bool // no more writes (checked per packet: cheaper than a channel)
	stopOnce     sync.Once
	startOnce    sync.Once
	eg           *egress      // drains q; set before Bind
	inline       *atomic.Bool // the subscriber's path is UDP: drain on the publisher's goroutine
	sub          *subOut      // shared with the subscriber's other tracks; nil in unit tests
	sentPkts     atomic.Uint64
	sentOctets   atomic.Uint64 // payload bytes (RFC 3550's sender octet count)

	// guarded by eg.mu
	egQueued, egRunning, egAgain bool
	// owned by the holder of the track's egress (one goroutine at a time)
	outSlot            slot
	out, direct        outPkt
	outHdr             rtp.Header
	srtp               *directOut // the direct path's SRTP writer, made at its first packet
	twccBuf            [2]byte
	wroteFirst, errLog bool

	mu        sync.Mutex
	writer    webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	clockRate uint32
	bound     bool
	twcc      bool
	twccID    uint8 // the transport-wide sequence number extension's ID; 0: not negotiated

	cur, target, maxLayer int
	startLow              bool // nothing sent yet and the target cannot be replayed
	reported              int
	started               bool
	seqOff                uint16
	tsOff                 uint32
	lastOutSeq            uint16
	lastOutTS             uint32
	lastOutAt             int64
	switchInSeq           uint16
	dropping              bool
	lastKeyOut            uint16
	hasKeyOut             bool
	sel                   selectorState // the layer selector's own state (selector.go)
	hist                  [8]switchRecord
	histN                 int
	rtx                   [64]struct {
		seq uint16
		at  int64
	}
}

func newDownTrack(src *source, streamID string, queueSize int, m *metrics, onFirst func()) *downTrack {
	d := &downTrack{
		id: src.id, streamID: streamID, src: src, m: m, q: newQueue(queueSize),
		onFirst: onFirst, cur: -1, target: -1, maxLayer: 2, reported: -1, sel: newSelectorState(),
	}
	if src.kind == webrtc.RTPCodecTypeAudio {
		d.target = 0
	}
	return d
}

// ID implements webrtc.TrackLocal.
func (d *downTrack) ID() string { return d.id }

// RID implements webrtc.TrackLocal.
func (d *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (d *downTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.src.kind }

// Bind implements webrtc.TrackLocal.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if equalFoldASCII(c.MimeType, d.src.codec.MimeType) {
			chosen = &c
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	twcc, twccID := false, uint8(0)
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == twccURI && e.ID > 0 && e.ID < 15 {
			twcc, twccID = true, uint8(e.ID) //nolint:gosec // checked: a one-byte header ID
		}
	}
	d.m.log.Debug("sfu: bind", "track", d.id, "twcc", twcc)
	d.mu.Lock()
	d.writer = ctx.WriteStream()
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(chosen.PayloadType)
	d.clockRate = chosen.ClockRate
	d.twcc, d.twccID = twcc, twccID
	d.bound = true
	d.mu.Unlock()
	d.startOnce.Do(d.start)
	return *chosen, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.mu.Unlock()
	return nil
}

// start writes what was queued before the track was bound. A worker does it:
// Bind runs inside pion's negotiation, which must not wait on writes.
func (d *downTrack) start() {
	if d.q.len() > 0 {
		d.eg.schedule(d)
	}
}

func (d *downTrack) stop() {
	d.stopOnce.Do(func() {
		d.stopped.Store(true)
		d.q.close()
	})
}

// forwardInline forwards one packet on the publisher's goroutine. When nothing
// is queued and no one else is writing d, the packet goes straight to the
// writer, skipping the queue's two copies.
func (d *downTrack) forwardInline(l *layer, h *rtpHeader, payload []byte, kf bool, now int64) {
	e := d.eg
	if !e.tryClaim(d) {
		if queued, _ := d.forward(l, h, payload, kf, now, nil); queued {
			e.drainNow(d)
		}
		return
	}
	queued, direct := d.forward(l, h, payload, kf, now, &d.direct)
	if direct {
		d.writeOut(&d.direct)
	}
	if queued {
		d.drain()
	}
	e.release(d)
}

// outPkt is one packet rewritten for a subscriber, with its writer.
type outPkt struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
	arrival int64
	w       webrtc.TrackLocalWriter
	ssrc    uint32
	pt      uint8
}

// forward rewrites one publisher packet into this subscriber's stream and queues
// it, reporting whether anything was queued. With direct set, a single packet
// that finds the queue empty is handed back in direct instead (the caller holds
// d's egress and writes it). Called from the publisher layer's reader
// goroutine; allocates nothing.
func (d *downTrack) forward(l *layer, h *rtpHeader, payload []byte, kf bool, now int64, direct *outPkt) (queued, isDirect bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound {
		return false, false
	}
	switch {
	case d.cur != l.idx:
		if l.idx != d.target {
			if d.cur < 0 && d.startLow && l.idx < d.target {
				// The target layer's keyframe is too old to replay: show a lower
				// layer at once (its cached keyframe, or this one) and move up at
				// the target's next keyframe rather than wait for it.
				if kf {
					d.switchLocked(l.idx, h.seq, h.ts, now)
					break
				}
				if d.replayLocked(l, h.seq, now) {
					break
				}
			}
			return false, false
		}
		if !kf {
			if d.cur < 0 && d.replayLocked(l, h.seq, now) {
				break // the cached keyframe and what followed are queued; go on live
			}
			if d.cur < 0 {
				d.startLow = true
			}
			d.src.requestKeyframe(l.idx, now)
			return false, false
		}
		d.switchLocked(l.idx, h.seq, h.ts, now)
	case d.dropping:
		if !kf {
			return false, false
		}
		d.resyncLocked(h.seq, now)
	case uint16(d.switchInSeq-h.seq-1) < 0x1000:
		return false, false // a late packet from before the switch: not in the subscriber's numbering
	}
	if direct != nil && d.q.len() == 0 {
		outSeq, outTS := h.seq-d.seqOff, h.ts-d.tsOff
		*direct = outPkt{seq: outSeq, ts: outTS, marker: h.marker, payload: payload, arrival: now,
			w: d.writer, ssrc: d.ssrc, pt: d.pt}
		d.sentLocked(outSeq, outTS, kf, now)
		return false, true
	}
	d.queueLocked(h, payload, kf, now)
	return true, false // even if the push failed: a replay may have queued packets
}

func (d *downTrack) queueLocked(h *rtpHeader, payload []byte, kf bool, now int64) {
	outSeq := h.seq - d.seqOff
	outTS := h.ts - d.tsOff
	if !d.q.push(outSeq, outTS, h.marker, payload, now) {
		// A stuck subscriber: drop until the next keyframe rather than block the
		// publisher's reader.
		d.m.dropped.Inc()
		d.dropping = true
		d.src.requestKeyframe(d.cur, now)
		return
	}
	d.sentLocked(outSeq, outTS, kf, now)
}

// sentLocked records a packet handed on to the subscriber.
func (d *downTrack) sentLocked(outSeq uint16, outTS uint32, kf bool, now int64) {
	if !d.started || packetcache.SeqLess(d.lastOutSeq, outSeq) {
		d.lastOutSeq, d.lastOutTS, d.lastOutAt = outSeq, outTS, now
		d.started = true
	}
	if kf {
		d.lastKeyOut, d.hasKeyOut = outSeq, true
	}
}

// switchLocked starts forwarding layer idx at a keyframe, continuing the egress
// sequence numbers and timestamps where the previous layer left them.
func (d *downTrack) switchLocked(idx int, inSeq uint16, inTS uint32, now int64) {
	if d.started {
		delta := uint32(1)
		if d.clockRate > 0 && now > d.lastOutAt {
			if dt := uint32(uint64(now-d.lastOutAt) * uint64(d.clockRate) / 1e9); dt > 0 {
				delta = dt
			}
		}
		d.seqOff = inSeq - (d.lastOutSeq + 1)
		d.tsOff = inTS - (d.lastOutTS + delta)
		if d.cur >= 0 {
			d.m.layerSwitches.Inc()
		}
	} else {
		d.seqOff, d.tsOff = 0, 0
	}
	d.cur = idx
	d.dropping = false
	d.switchInSeq = inSeq
	d.recordLocked(inSeq - d.seqOff)
}

// resyncLocked resumes the same layer at a keyframe after dropping.
func (d *downTrack) resyncLocked(inSeq uint16, now int64) {
	d.seqOff = inSeq - (d.lastOutSeq + 1)
	d.dropping = false
	d.switchInSeq = inSeq
	d.recordLocked(inSeq - d.seqOff)
}

func (d *downTrack) recordLocked(outStart uint16) {
	d.hist[d.histN%len(d.hist)] = switchRecord{outStart: outStart, layer: d.cur, seqOff: d.seqOff, tsOff: d.tsOff}
	d.histN++
}

// replayLocked queues the layer's cached packets from its last keyframe up to
// (not including) seq, so a new subscriber shows video at once.
func (d *downTrack) replayLocked(l *layer, seq uint16, now int64) bool {
	kfSeq, ok := l.cache.LastKeyframe()
	if !ok || uint16(seq-kfSeq) > maxReplay || seq == kfSeq {
		return false
	}
	first := true
	for s := kfSeq; s != seq; s++ {
		n := l.cache.Get(s, l.replayBuf[:])
		if n == 0 {
			continue // lost upstream; the subscriber will NACK it
		}
		h, payload, ok := parseRTP(l.replayBuf[:n])
		if !ok || len(payload) == 0 {
			continue
		}
		if first {
			d.switchLocked(l.idx, h.seq, h.ts, now)
			first = false
		}
		d.queueLocked(&h, payload, s == kfSeq, now)
	}
	return !first
}

// handleNACK queues a retransmission from the publisher's cache and reports
// whether it did; the caller gets the queue written once per feedback packet.
// Duplicate NACKs (the same packet within a short interval) and NACKs older
// than the last keyframe sent are ignored: the decoder no longer needs them.
func (d *downTrack) handleNACK(outSeq uint16, buf []byte, now int64) bool {
	d.m.nacks.Inc()
	d.mu.Lock()
	if !d.started || !packetcache.SeqLess(outSeq, d.lastOutSeq+1) ||
		(d.hasKeyOut && packetcache.SeqLess(outSeq, d.lastKeyOut)) {
		d.mu.Unlock()
		return false
	}
	r := &d.rtx[outSeq%uint16(len(d.rtx))]
	if r.seq == outSeq && now-r.at < int64(40*time.Millisecond) {
		d.mu.Unlock()
		return false
	}
	r.seq, r.at = outSeq, now
	var rec *switchRecord
	for i := 1; i <= len(d.hist) && i <= d.histN; i++ {
		c := &d.hist[(d.histN-i)%len(d.hist)]
		if !packetcache.SeqLess(outSeq, c.outStart) {
			rec = c
			break
		}
	}
	if rec == nil {
		d.mu.Unlock()
		return false
	}
	l := d.src.layers[rec.layer].Load()
	inSeq, tsOff := outSeq+rec.seqOff, rec.tsOff
	d.mu.Unlock()
	if l == nil {
		return false
	}
	n := l.cache.Get(inSeq, buf)
	if n == 0 {
		return false
	}
	h, payload, ok := parseRTP(buf[:n])
	if !ok {
		return false
	}
	if !d.q.push(outSeq, h.ts-tsOff, h.marker, payload, now) {
		return false
	}
	d.m.retransmits.Inc()
	return true
}

// restart forgets what was sent before the subscriber could receive it, so the
// next packet starts the stream at a keyframe (replayed from the cache).
func (d *downTrack) restart() {
	d.mu.Lock()
	if !d.wroteFirst && d.src.kind == webrtc.RTPCodecTypeVideo {
		d.cur, d.started, d.dropping, d.startLow = -1, false, false, false
		d.hasKeyOut, d.histN = false, 0
		d.q.clear()
	}
	d.mu.Unlock()
}

// drain writes the queued packets into the peer connection. Called by one
// goroutine at a time (the holder of d's egress).
func (d *downTrack) drain() {
	s, o := &d.outSlot, &d.out
	for {
		if d.stopped.Load() || !d.q.pop(s) {
			return
		}
		d.mu.Lock()
		w, ssrc, pt, bound := d.writer, d.ssrc, d.pt, d.bound
		d.mu.Unlock()
		if !bound {
			continue
		}
		*o = outPkt{seq: s.seq, ts: s.ts, marker: s.marker, payload: s.buf[:s.n], arrival: s.arrival, w: w, ssrc: ssrc, pt: pt}
		d.writeOut(o)
	}
}

// writeOut writes one packet: over UDP encrypted by the SFU straight into the
// media socket's batch (direct.go), else through pion (SRTP, the ICE path).
func (d *downTrack) writeOut(p *outPkt) {
	if p.w == nil || d.stopped.Load() {
		return
	}
	h := &d.outHdr
	*h = rtp.Header{
		Version: 2, Marker: p.marker, PayloadType: p.pt,
		SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc,
		Extensions: h.Extensions[:0],
	}
	tw, stamped := d.stampTWCC(h)
	var n int
	var err error
	direct := d.inline != nil && d.inline.Load()
	if direct {
		n, direct, err = d.writeDirect(h, p.payload)
	}
	if !direct {
		n, err = p.w.WriteRTP(h, p.payload)
		if n == 0 && err == nil {
			// pion drops packets silently until the connection's SRTP keys exist
			// (a track bound by a renegotiation that beat the DTLS handshake).
			// The subscriber got nothing: start again from a keyframe.
			d.restart()
			return
		}
	}
	if err != nil {
		if !d.errLog {
			d.errLog = true
			d.m.log.Debug("sfu: write RTP", "track", d.id, "err", err)
		}
		return
	}
	now := time.Now().UnixNano()
	if stamped {
		d.sub.est.onSent(tw, h.MarshalSize()+len(p.payload), now)
	}
	d.sentPkts.Add(1)
	d.sentOctets.Add(uint64(len(p.payload)))
	if direct {
		d.m.directOut.Inc()
	}
	d.m.packetsOut.Inc()
	d.m.bytesOut.Add(float64(n))
	d.m.forwardLatency.Observe(float64(now-p.arrival) / 1e9)
	if !d.wroteFirst {
		d.wroteFirst = true
		if d.onFirst != nil {
			d.onFirst()
		}
	}
}

// readRTCP handles the subscriber's feedback for this track that came through
// pion (the direct path's comes through session.onFeedback).
func (d *downTrack) readRTCP(sender *webrtc.RTPSender, onREMB func(uint64)) {
	var est *bwe
	if d.sub != nil {
		est = d.sub.est
	}
	buf := make([]byte, packetcache.BufSize)
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if est != nil {
			_ = est.onRTCP(pkts) // malformed feedback is ignored inside
		}
		for _, p := range pkts {
			d.onRTCP(p, buf, now, onREMB)
		}
	}
}

// onRTCP acts on one feedback packet for this track: retransmissions,
// keyframe requests, REMB.
func (d *downTrack) onRTCP(p rtcp.Packet, buf []byte, now int64, onREMB func(uint64)) {
	switch p := p.(type) {
	case *rtcp.TransportLayerNack:
		// One write per NACK pair (up to 17 packets), not per packet,
		// and never more than a pair queued before it is written.
		for _, pair := range p.Nacks {
			queued := false
			pair.Range(func(seq uint16) bool {
				queued = d.handleNACK(seq, buf, now) || queued
				return true
			})
			if queued {
				d.eg.kick(d)
			}
		}
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		d.mu.Lock()
		cur := d.cur
		d.mu.Unlock()
		d.src.requestKeyframe(cur, now)
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		if onREMB != nil {
			onREMB(uint64(p.Bitrate))
		}
	}
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
