package sfu

import (
	"math"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// bwe is the SFU's own per-subscriber send-side bandwidth estimator, fed by
// transport-wide congestion control feedback (TWCC). It replaces pion's GCC,
// whose delay-gradient detector read the server's own scheduling jitter as
// congestion on every link of a 49-subscriber fan-out, ramped slowly and never
// estimated far above what was sent.
//
// Signals, per feedback report (browsers send one every 50-100 ms):
//   - the standing queue: the smallest one-way delay of the report's packets
//     above the smallest delay seen in the last 10 s; 50 ms of it for 300 ms
//     is congestion. A real bottleneck delays every packet; a receiver or
//     server that was briefly descheduled delays only some, and the freshest
//     packet of the report shows no queue, so the minimum ignores it;
//   - loss: 10 % over the last second, in at least half of its reports;
//   - the receive rate over the last 300 ms;
//   - the link capacity from packet trains: packets sent back to back (a
//     frame's packets) leave a bottleneck spaced by its rate, so the bytes of
//     a train over its arrival spread measure the link without sending more.
//
// A standing queue sets the estimate to 85 % of the receive rate (what a full
// link delivers is its capacity); loss alone steps it down as GCC's loss
// controller does. Otherwise the estimate only rises: to 1.5x the receive rate
// or 80 % of the trains' capacity, whichever is higher. After congestion,
// trains may raise it only after a hold (8 s; 16 s after a raise that failed),
// because small trains read on a busy receiver arrive compressed and overstate
// the link; the hold ends early once the link carries half as much again as
// it did under congestion (the selector probed a layer up and it held).
type bwe struct {
	min, max int64
	clock    func() int64 // unix nanos; injected for tests

	mu       sync.Mutex
	sent     [bweRing]sentPacket
	est      int64
	onChange func(int)

	baseMin   [bweBaseSlots]int64    // smallest one-way delay per slot, ns (clock offset included: any sign)
	baseSlot  int64                  // index of the current slot (now / slot length)
	highSince int64                  // since when reports show a standing queue; 0: they do not
	lastCong  int64                  // when congestion was last seen
	congRate  int64                  // the receive rate then, bps
	raisedAt  int64                  // when capacity last raised the estimate
	capHold   time.Duration          // capacity raises suspended this long after congestion
	capHoldTo int64                  // until when
	loss      [bweLossReports][2]int // lost, reported: the last reports
	lossN     int
	firstFb   int64 // when the first feedback came
	recv      [bweRecvRing]recvSample
	recvN     int
	trains    [bweTrains]trainSample
	trainN    int
	arrivalHi int64 // feedback arrival clock: unwrapped reference time base, us
	lastRef   int64
	haveRef   bool
	closed    bool

	// For GetStats and the tests: what the last report showed.
	lastQ, lastLoss, lastCap, lastRate int64
	congestions                        int64
}

const (
	bweRing      = 2048 // sent packets remembered, by transport-wide sequence number
	bweRecvRing  = 512
	bweTrains    = 3
	bweBaseSlots = 5
	bweBaseSlot  = 2 * time.Second // base delay: the minimum over 5 slots of 2 s

	bweQueueHigh    = 50 * time.Millisecond  // a standing queue this high ...
	bweQueueLasting = 300 * time.Millisecond // ... for this long (4 reports) is congestion
	bweLossCongest  = 10                     // % of the last reports' packets lost
	bweLossReports  = 10
	bweLossWarmup   = 2 * time.Second
	bweRateWindow   = 300 * time.Millisecond
	bweTrainGap     = 2 * time.Millisecond   // packets sent this close together form a train
	bweTrainMaxAge  = 10 * time.Second       // capacity samples older than this are forgotten
	bweMinTrainSpan = 250 * time.Microsecond // the feedback's time resolution
	bweMinCapHold   = 8 * time.Second
	bweMaxCapHold   = 16 * time.Second
	bweRaiseBlame   = 3 * time.Second // congestion this soon after a capacity raise blames it
)

const noDelay = math.MaxInt64 // an empty base-delay slot

type sentPacket struct {
	at    int64 // unix nanos; 0: empty
	size  int32
	seq   uint16
	acked bool // reported received: counted once
}

type recvSample struct {
	at   int64 // arrival, feedback clock, ns
	size int32
}

type trainSample struct {
	at  int64 // local time the sample was taken
	bps int64
}

func newBWE(initial, minBps, maxBps int64, clock func() int64) *bwe {
	if clock == nil {
		clock = func() int64 { return time.Now().UnixNano() }
	}
	b := &bwe{min: minBps, max: maxBps, clock: clock, est: initial, capHold: bweMinCapHold}
	for i := range b.baseMin {
		b.baseMin[i] = noDelay
	}
	return b
}

// onSent records a packet carrying transport-wide sequence number seq: its
// send time and size, for the feedback to be matched against.
func (b *bwe) onSent(seq uint16, size int, now int64) {
	b.mu.Lock()
	b.sent[seq%bweRing] = sentPacket{at: now, size: int32(size), seq: seq} //nolint:gosec // an RTP packet
	b.mu.Unlock()
}

// onRTCP takes the subscriber's RTCP; only TWCC feedback matters here.
func (b *bwe) onRTCP(pkts []rtcp.Packet) error {
	now := b.clock()
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			if err := b.onFeedback(fb, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetTargetBitrate is the current estimate, bps.
func (b *bwe) GetTargetBitrate() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.est)
}

// OnTargetBitrateChange registers f, called (outside the lock) when the estimate changes.
func (b *bwe) OnTargetBitrateChange(f func(int)) {
	b.mu.Lock()
	b.onChange = f
	b.mu.Unlock()
}

// GetStats reports the last feedback's view, for debugging.
func (b *bwe) GetStats() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return map[string]any{
		"estimate": b.est, "queueDelayNs": b.lastQ, "lossPct": b.lastLoss,
		"capacity": b.lastCap, "receiveRate": b.lastRate, "congestions": b.congestions,
	}
}

func (b *bwe) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// onFeedback reads one TWCC report and updates the estimate.
func (b *bwe) onFeedback(fb *rtcp.TransportLayerCC, now int64) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil // the connection is going away; its RTCP reader must not fail for it
	}
	before := b.est
	b.feedbackLocked(fb, now)
	after, f := b.est, b.onChange
	b.mu.Unlock()
	if f != nil && after != before {
		f(int(after))
	}
	return nil
}

// fbReport accumulates one feedback's packets.
type fbReport struct {
	recv, lost int
	minDelay   int64 // smallest one-way delay, ns (feedback clock minus ours)
	haveDelay  bool
	// the train being read
	tStart, tLastArr, tMinArr int64
	tBytes, tCount            int64
}

func (b *bwe) feedbackLocked(fb *rtcp.TransportLayerCC, now int64) {
	arrival := b.referenceLocked(fb.ReferenceTime) // us, feedback clock
	var r fbReport
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	di := 0
	status := func(sym uint16) {
		if left <= 0 {
			return
		}
		left--
		s := seq
		seq++
		received := sym == rtcp.TypeTCCPacketReceivedSmallDelta || sym == rtcp.TypeTCCPacketReceivedLargeDelta
		if received {
			if di >= len(fb.RecvDeltas) || fb.RecvDeltas[di] == nil {
				return // malformed: fewer deltas than statuses
			}
			arrival += fb.RecvDeltas[di].Delta
			di++
		}
		b.packetLocked(&r, s, received, arrival*1000, now)
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := 0; i < int(c.RunLength) && left > 0; i++ {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				if c.SymbolSize == rtcp.TypeTCCSymbolSizeOneBit && sym == 1 {
					sym = rtcp.TypeTCCPacketReceivedSmallDelta
				}
				status(sym)
			}
		}
	}
	b.endTrainLocked(&r, now)
	b.updateLocked(&r, now)
}

// referenceLocked unwraps the 24-bit reference time (64 ms units) to us.
func (b *bwe) referenceLocked(ref uint32) int64 {
	v := int64(ref & 0xFFFFFF)
	if b.haveRef {
		d := v - b.lastRef
		switch {
		case d < -(1 << 23):
			b.arrivalHi += 1 << 24
		case d > 1<<23:
			b.arrivalHi -= 1 << 24
		}
	}
	b.lastRef, b.haveRef = v, true
	return (b.arrivalHi + v) * 64_000
}

// packetLocked accounts for one reported packet; arr is its arrival (feedback clock, ns).
func (b *bwe) packetLocked(r *fbReport, seq uint16, received bool, arr, now int64) {
	p := &b.sent[seq%bweRing]
	if p.at == 0 || p.seq != seq || now-p.at > int64(10*time.Second) {
		b.endTrainLocked(r, now)
		return // not ours, or too old to trust
	}
	if !received {
		if !p.acked {
			r.lost++
		}
		b.endTrainLocked(r, now)
		return
	}
	d := arr - p.at
	if !r.haveDelay || d < r.minDelay {
		r.minDelay, r.haveDelay = d, true
	}
	if !p.acked {
		p.acked = true
		r.recv++
		b.recv[b.recvN%bweRecvRing] = recvSample{at: arr, size: p.size}
		b.recvN++
	}
	// Trains: consecutive packets sent within bweTrainGap of the first.
	if r.tCount > 0 && p.at-r.tStart <= int64(bweTrainGap) && p.at >= r.tStart {
		r.tBytes += int64(p.size)
		r.tCount++
		r.tLastArr = max(r.tLastArr, arr)
		r.tMinArr = min(r.tMinArr, arr)
		return
	}
	b.endTrainLocked(r, now)
	r.tStart, r.tLastArr, r.tMinArr, r.tBytes, r.tCount = p.at, arr, arr, 0, 1
}

// endTrainLocked turns the train being read, if long enough, into a capacity sample.
func (b *bwe) endTrainLocked(r *fbReport, now int64) {
	if r.tCount >= 2 && r.tBytes >= 500 {
		span := max(r.tLastArr-r.tMinArr, int64(bweMinTrainSpan))
		b.trains[b.trainN%bweTrains] = trainSample{at: now, bps: r.tBytes * 8 * int64(time.Second) / span}
		b.trainN++
	}
	r.tCount = 0
}

// lossyLocked says whether loss over the last reports (about 1 s) shows
// congestion: 10 % of the packets, lost in at least half of the reports. A
// burst is not enough: a receiver that was briefly descheduled overflows its
// socket buffer without any link being full; a policer drops all along. Loss in
// the first seconds is not counted either: packets sent before the receiver's
// SRTP was ready are lost for reasons that have nothing to do with the link.
func (b *bwe) lossyLocked(r *fbReport, now int64) (pct int64, lossy bool) {
	if b.firstFb == 0 {
		b.firstFb = now
	}
	b.loss[b.lossN%bweLossReports] = [2]int{r.lost, r.recv + r.lost}
	b.lossN++
	if now-b.firstFb < int64(bweLossWarmup) {
		return 0, false
	}
	var lost, total, lossyN int
	for _, l := range b.loss {
		lost += l[0]
		total += l[1]
		if l[0] > 0 {
			lossyN++
		}
	}
	if total == 0 {
		return 0, false
	}
	pct = int64(lost * 100 / total)
	return pct, lost >= 10 && pct >= bweLossCongest && lossyN >= bweLossReports/2
}

// capacityLocked is the smallest of the last bweTrains train samples, or 0
// while there are fewer. The smallest, because a train read late by a busy
// receiver arrives compressed and overestimates the link.
func (b *bwe) capacityLocked(now int64) int64 {
	if b.trainN < bweTrains {
		return 0
	}
	c := int64(math.MaxInt64)
	for _, s := range b.trains {
		if now-s.at > int64(bweTrainMaxAge) {
			return 0
		}
		c = min(c, s.bps)
	}
	return c
}

// receiveRateLocked is the receive rate over the last bweRateWindow of arrivals, bps.
func (b *bwe) receiveRateLocked() int64 {
	n := min(b.recvN, bweRecvRing)
	if n == 0 {
		return 0
	}
	last := b.recv[(b.recvN-1)%bweRecvRing].at
	var bytes int64
	first := last
	for i := 1; i <= n; i++ {
		s := b.recv[(b.recvN-i)%bweRecvRing]
		if last-s.at > int64(bweRateWindow) {
			break
		}
		bytes += int64(s.size)
		first = min(first, s.at)
	}
	span := int64(bweRateWindow)
	if n == bweRecvRing && last-first < span { // the ring is shorter than the window
		span = max(last-first, int64(bweMinTrainSpan))
	}
	return bytes * 8 * int64(time.Second) / span
}

// baseDelayLocked folds d into the windowed minimum one-way delay and returns it.
func (b *bwe) baseDelayLocked(d, now int64) int64 {
	slot := now / int64(bweBaseSlot)
	if slot != b.baseSlot {
		for s := b.baseSlot + 1; s <= slot && s-b.baseSlot <= bweBaseSlots; s++ {
			b.baseMin[s%bweBaseSlots] = noDelay
		}
		b.baseSlot = slot
	}
	i := slot % bweBaseSlots
	b.baseMin[i] = min(b.baseMin[i], d)
	base := d
	for _, m := range b.baseMin {
		base = min(base, m)
	}
	return base
}

func (b *bwe) updateLocked(r *fbReport, now int64) {
	if r.recv+r.lost == 0 {
		return
	}
	var q int64
	if r.haveDelay {
		q = r.minDelay - b.baseDelayLocked(r.minDelay, now)
	}
	lossPct := int64(r.lost * 100 / (r.recv + r.lost))
	rate := b.receiveRateLocked()
	b.lastQ, b.lastLoss, b.lastRate = q, lossPct, rate

	// A standing queue must last: a receiver descheduled for 100-200 ms
	// shows one or two reports of late packets, a full link shows a queue
	// until the sender slows down.
	high := r.haveDelay && q > int64(bweQueueHigh)
	switch {
	case !high:
		b.highSince = 0
	case b.highSince == 0:
		b.highSince = now
	}
	queued := high && now-b.highSince >= int64(bweQueueLasting)
	windowLoss, lossy := b.lossyLocked(r, now)
	if queued || lossy {
		b.congestions++
		if b.raisedAt != 0 && now-b.raisedAt < int64(bweRaiseBlame) {
			// The capacity raise was wrong: wait longer before the next one.
			b.capHold = min(2*b.capHold, bweMaxCapHold)
		}
		// Trains read on a busy receiver arrive compressed and overstate the
		// link, so after congestion they raise the estimate only after a hold,
		// the same as the selector's probes.
		b.capHoldTo = now + int64(b.capHold)
		b.raisedAt = 0
		b.lastCong, b.congRate = now, rate
		b.trainN = 0 // trains measured before or during the queue are stale
		b.highSince = 0
		b.loss = [bweLossReports][2]int{} // these losses have been acted on
		if queued {
			// A full link: what it delivers is its capacity.
			b.est = min(b.est, max(b.min, rate*85/100))
		} else {
			// Loss without a queue: a policer, or a receiver that cannot keep
			// up. Step down as GCC's loss controller does, from no higher than
			// twice what gets through, so that a second of loss does not
			// change the layer but loss that lasts does.
			b.est = max(b.min, min(b.est, 2*rate)*(100-windowLoss/2)/100)
		}
		return
	}
	if b.raisedAt != 0 && now-b.raisedAt > int64(2*bweRaiseBlame) {
		b.capHold, b.raisedAt = bweMinCapHold, 0 // the raise held
	}
	if now-b.lastCong < int64(time.Second) {
		return // let the queue drain before reading the link again
	}
	if now < b.capHoldTo && rate > b.congRate*3/2 {
		// Half as much again as the link carried under congestion goes through
		// without a queue (the selector probed a layer up): the link has
		// changed, its trains can be trusted again.
		b.capHoldTo = 0
	}
	target := min(rate*3/2, b.max)
	cp := b.capacityLocked(now)
	b.lastCap = cp
	if c := min(cp*4/5, b.max); c > target && now >= b.capHoldTo {
		target = c
		if target > b.est*5/4 {
			b.raisedAt = now
		}
	}
	if target > b.est {
		b.est = target
	}
}
