package sfu

import (
	"bytes"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// selectorTrack is a video track over a source whose three layers run at the
// given bitrates.
func selectorTrack(t *testing.T, rates [3]int64, now int64) (*downTrack, *atomic.Int64) {
	m := testMetrics(t)
	plis := &atomic.Int64{}
	src := videoSource(m, plis)
	for i := 0; i < 3; i++ {
		l := src.layers[i].Load()
		l.rate.Store(rates[i])
		l.last.Store(now)
	}
	d := newDownTrack(src, "expert", 16, m, nil)
	return d, plis
}

// CALL-2: the layer follows the bandwidth: down at once, up only with headroom
// after a hold, no oscillation around a threshold, keyframes requested at most
// once per 500 ms per layer.
func TestSelector_CALL2_DownFastUpWithHeadroomNoOscillation(t *testing.T) {
	now := time.Now().UnixNano()
	rates := [3]int64{150_000, 500_000, 1_500_000}
	d, plis := selectorTrack(t, rates, now)
	step := func(budget int64, dt time.Duration) int {
		now += int64(dt)
		for i := 0; i < 3; i++ {
			d.src.layers[i].Load().last.Store(now)
		}
		d.selectLayer(budget, false, now)
		return d.target
	}
	if got := step(3_000_000, 0); got != 2 {
		t.Fatalf("plenty of bandwidth: layer %d, want 2", got)
	}
	if got := step(300_000, 250*time.Millisecond); got != 0 {
		t.Fatalf("capped at 300 kb/s: layer %d, want 0 at once", got)
	}
	// Bandwidth comes back, but just above the middle layer: no headroom, stay low.
	if got := step(520_000, 3*time.Second); got != 0 {
		t.Fatalf("no headroom: layer %d, want 0", got)
	}
	// Enough headroom, but inside the hold after a down switch: stay.
	d.mu.Lock()
	d.sel.lastDown = now
	d.mu.Unlock()
	if got := step(5_000_000, time.Second); got != 0 {
		t.Fatalf("within hold: layer %d, want 0", got)
	}
	if got := step(5_000_000, 2*time.Second); got != 2 {
		t.Fatalf("after hold with headroom: layer %d, want 2", got)
	}
	// An estimate hovering around the top layer's rate does not flip-flop.
	switches := 0
	last := d.target
	for i := 0; i < 40; i++ {
		b := int64(1_560_000)
		if i%2 == 1 {
			b = 1_700_000
		}
		if got := step(b, 250*time.Millisecond); got != last {
			switches++
			last = got
		}
	}
	if switches > 0 {
		t.Fatalf("%d switches while the estimate hovers above the top layer", switches)
	}
	// Keyframe requests: at most one per 500 ms per layer, however often asked.
	before := plis.Load()
	for i := 0; i < 20; i++ {
		d.src.requestKeyframe(1, now+int64(i)*int64(10*time.Millisecond))
	}
	if n := plis.Load() - before; n != 1 {
		t.Fatalf("%d keyframe requests in 200 ms", n)
	}
	d.src.requestKeyframe(1, now+int64(600*time.Millisecond))
	if n := plis.Load() - before; n != 2 {
		t.Fatalf("no keyframe request after the 500 ms throttle")
	}
}

// With TWCC the estimate cannot show headroom above 1.5x what is sent, so the
// selector probes one layer up once the estimate sits at that ceiling; a failed
// probe doubles the wait.
func TestSelector_CALL2_GCCProbesUpAfterCapLifts(t *testing.T) {
	d, tick, clock := probeTrack(t)
	for i := 0; i < 8; i++ { // 2 s: inside the probe hold
		tick(230_000)
	}
	if d.target != 0 {
		t.Fatalf("probed within the hold")
	}
	for i := 0; i < 26; i++ {
		tick(230_000)
	}
	if d.target != 1 {
		t.Fatalf("no probe up after the hold: layer %d (lastDown %v ago, lastUp %v ago, hold %v)", d.target,
			time.Duration(clock()-d.sel.lastDown), time.Duration(clock()-d.sel.lastUp), d.sel.probeHold)
	}
	for i := 0; i < 4; i++ { // the estimate has not risen yet: the probe waits
		tick(230_000)
	}
	if d.target != 1 {
		t.Fatalf("probe abandoned before the estimate could rise")
	}
	tick(180_000) // the estimate falls: congestion, the probe failed
	if d.target != 0 || d.sel.probeHold != 2*minProbeHold {
		t.Fatalf("failed probe: layer %d, hold %v", d.target, d.sel.probeHold)
	}
	// A probe that succeeds: the estimate rises with the middle layer.
	for i := 0; i < 80 && d.target == 0; i++ {
		tick(230_000)
	}
	if d.target != 1 {
		t.Fatal("no second probe")
	}
	for i := 0; i < 20; i++ {
		tick(800_000)
	}
	if d.target != 1 {
		t.Fatalf("successful probe undone: layer %d", d.target)
	}
}

// The exposition passes promtool's linter: names, help, units, no per-room labels.
func TestMetrics_PromtoolLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.refusals.WithLabelValues(CodeRoomFull).Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
		for _, met := range mf.GetMetric() {
			for _, l := range met.GetLabel() {
				if l.GetName() == "room" || l.GetName() == "user" {
					t.Fatalf("%s has a per-%s label", mf.GetName(), l.GetName())
				}
			}
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
}

// CALL-2: once a probed layer shows headroom (packet trains raised the
// estimate: the cap has lifted), the probe ends at once and the layer goes on
// up to the top, rather than waiting out the probe window and another hold.
func TestSelector_CALL2_ProbeWithHeadroomGoesOnUp(t *testing.T) {
	d, tick, clock := probeTrack(t)
	for i := 0; i < 40 && d.target == 0; i++ { // the probe hold, at the estimate's ceiling
		tick(236_000)
	}
	if d.target != 1 {
		t.Fatalf("no probe after the hold: layer %d", d.target)
	}
	probed := clock()
	for i := 0; i < 4 && d.target == 1; i++ {
		tick(9_900_000)
	}
	if d.target != 2 || clock()-probed > int64(time.Second) {
		t.Fatalf("headroom during the probe: layer %d after %v, want the top within 1 s", d.target, time.Duration(clock()-probed))
	}
	// And it stays there: no oscillation once the estimate holds.
	for i := 0; i < 40; i++ {
		tick(9_900_000)
		if d.target != 2 {
			t.Fatalf("left the top layer with a steady estimate: layer %d", d.target)
		}
	}
}

// probeTrack is a subscriber track on the low layer of a q/h/f source, just
// switched down; tick moves its clock 250 ms and runs the selector with a TWCC
// (GCC-like) budget.
func probeTrack(t *testing.T) (d *downTrack, tick func(budget int64), clock func() int64) {
	now := time.Now().UnixNano()
	d, _ = selectorTrack(t, [3]int64{150_000, 500_000, 1_500_000}, now)
	d.target = 0
	d.sel.lastDown = now
	tick = func(budget int64) {
		now += int64(250 * time.Millisecond)
		for i := 0; i < 3; i++ {
			d.src.layers[i].Load().last.Store(now)
		}
		d.selectLayer(budget, true, now)
	}
	return d, tick, func() int64 { return now }
}
