package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// Layer selection: each subscriber's video follows its own bandwidth estimate.
// Down at once when the current layer no longer fits; up only with 25 % headroom
// and not within upHold of the last down switch, so the layer does not oscillate.
// Switches happen at keyframes (see downTrack.forward).
const (
	upHold       = 2 * time.Second
	audioReserve = 64_000 // bps kept for audio out of the estimate
	minProbeHold = 8 * time.Second
	maxProbeHold = 16 * time.Second
	probeWindow  = 3 * time.Second // how long a probe may wait for the estimate to rise
)

// selectorState is one subscriber track's layer-selector state, guarded by the
// downTrack's mu.
type selectorState struct {
	lastDown    int64 // when the target last went down
	probeHold   time.Duration
	lastUp      int64
	probeUntil  int64 // end of the current up-probe
	probeBudget int64 // estimate when the probe started
}

func newSelectorState() selectorState { return selectorState{probeHold: minProbeHold} }

// budget is the estimated bandwidth for this subscriber, in bps.
func (sess *session) budget() int64 {
	b, _ := sess.estimate()
	return b
}

// estimate is the estimated bandwidth, bps, and whether it comes from TWCC
// (bwe.go), which cannot rise far above what is sent without packet trains.
func (sess *session) estimate() (bps int64, gcc bool) {
	sess.mu.Lock()
	var est *bwe
	if sess.egress != nil {
		est = sess.egress.est
	}
	twcc := false
	for _, st := range sess.downs {
		st.d.mu.Lock()
		twcc = twcc || st.d.twcc
		st.d.mu.Unlock()
	}
	sess.mu.Unlock()
	if twcc && est != nil {
		bps = int64(est.GetTargetBitrate())
		gcc = true
	}
	if remb := int64(sess.remb.Load()); remb > 0 && (bps == 0 || remb < bps) {
		bps, gcc = remb, false // REMB where TWCC is not negotiated, or a lower explicit cap
	}
	if bps == 0 {
		bps = int64(sess.s.cfg.InitialBitrate)
	}
	return bps, gcc
}

// selectLayers runs the selector for each video track and tells the client
// about layer changes.
func (sess *session) selectLayers(now int64) {
	bps, gcc := sess.estimate()
	sess.s.m.bandwidth.Observe(float64(bps))
	budget := bps - audioReserve
	sess.mu.Lock()
	downs := make([]*downTrack, 0, len(sess.downs))
	for _, st := range sess.downs {
		if st.d.src.kind == webrtc.RTPCodecTypeVideo {
			downs = append(downs, st.d)
		}
	}
	sess.mu.Unlock()
	for _, d := range downs {
		d.selectLayer(budget, gcc, now)
		d.mu.Lock()
		cur, changed := d.cur, d.cur != d.reported && d.cur >= 0
		d.reported = d.cur
		d.mu.Unlock()
		if changed {
			sess.send(ServerMessage{Type: TypeLayer, Layer: layerRID(cur)})
		}
	}
}

// selectLayer sets the target layer for the given video budget (bps).
func (d *downTrack) selectLayer(budget int64, gcc bool, now int64) {
	var rates [3]int64
	var present [3]bool
	for i := range d.src.layers {
		if l := d.src.layers[i].Load(); l != nil {
			last := l.last.Load()
			present[i] = last == 0 || now-last < int64(2*time.Second)
			rates[i] = l.rate.Load()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fit, lowest := -1, -1
	for i := 0; i <= d.maxLayer && i < 3; i++ {
		if !present[i] {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		if rates[i] <= budget {
			fit = i
		}
	}
	if fit < 0 {
		fit = lowest
	}
	if fit < 0 {
		return // no layer yet
	}
	if now < d.sel.probeUntil {
		// Probing: the estimate needs a moment to rise with what is sent. A
		// falling estimate (congestion) fails the probe; one that shows headroom
		// for the probed layer ends it early, and the layer may go on up.
		switch {
		case budget < d.sel.probeBudget*85/100:
			d.sel.probeUntil = 0
			d.sel.probeHold = min(2*d.sel.probeHold, maxProbeHold)
			d.sel.lastDown = now
			d.target = fit
		case d.target >= 0 && d.target < 3 && rates[d.target]*5/4 <= budget:
			d.sel.probeUntil = 0
		}
		if now < d.sel.probeUntil {
			if d.cur != d.target {
				d.src.requestKeyframe(d.target, now)
			}
			return
		}
	}
	t := d.target
	switch {
	case t < 0 || t > 2 || !present[t] || t > d.maxLayer:
		t = fit
	case fit < t:
		t = fit
		if now-d.sel.lastUp < int64(probeWindow+2*time.Second) { // a failed probe: wait longer next time
			d.sel.probeHold = min(2*d.sel.probeHold, maxProbeHold)
		}
		d.sel.lastDown = now
	case fit > t && now-d.sel.lastDown >= int64(upHold):
		for i := fit; i > t; i-- {
			if present[i] && rates[i]*5/4 <= budget {
				t = i
				d.sel.lastUp = now
				break
			}
		}
	}
	if t == d.target && gcc && now-d.sel.lastDown >= int64(d.sel.probeHold) && now-d.sel.lastUp >= int64(d.sel.probeHold) {
		// Without packet trains to read (bwe.go) the estimate cannot rise far
		// above what is received (1.5x, about 1.2x of the layer once the audio
		// reserve is taken out), so a subscriber on a low layer cannot show
		// headroom for the next one. When the estimate sits at that ceiling (no
		// congestion), try one layer up; a fall back doubles the wait before the
		// next try, up to maxProbeHold.
		if next := nextPresent(present, t, d.maxLayer); next > t && budget*10 >= rates[t]*12 {
			t = next
			d.sel.lastUp = now
			d.sel.probeUntil = now + int64(probeWindow)
			d.sel.probeBudget = budget
		}
	}
	if now-d.sel.lastUp > int64(10*time.Second) && d.sel.lastDown < d.sel.lastUp {
		d.sel.probeHold = minProbeHold
	}
	d.target = t
	if d.cur != t {
		d.src.requestKeyframe(t, now)
	}
}

func nextPresent(present [3]bool, t, max int) int {
	for i := t + 1; i <= max && i < 3; i++ {
		if present[i] {
			return i
		}
	}
	return t
}
