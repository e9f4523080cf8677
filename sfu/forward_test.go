package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeWriter records what a subscriber track writes; block makes it stall.
type fakeWriter struct {
	mu    sync.Mutex
	seqs  []uint16
	ts    []uint32
	block chan struct{}
	n     atomic.Int64
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.block != nil {
		<-w.block
	}
	w.n.Add(1)
	if w.seqs != nil {
		w.mu.Lock()
		w.seqs = append(w.seqs, h.SequenceNumber)
		w.ts = append(w.ts, h.Timestamp)
		w.mu.Unlock()
	}
	return len(payload) + 12, nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// requireContinuous fails the test if the recorded sequence numbers jump.
func (w *fakeWriter) requireContinuous(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.seqs); i++ {
		if w.seqs[i] != w.seqs[i-1]+1 {
			t.Fatalf("egress sequence jumps from %d to %d", w.seqs[i-1], w.seqs[i])
		}
	}
}

// recordedSubscriber is a subscriber track of src on the top layer, bound to a
// writer that records what it is sent.
func recordedSubscriber(t *testing.T, src *source, m *metrics) (*downTrack, *fakeWriter) {
	w := &fakeWriter{seqs: []uint16{}}
	d := newDownTrack(src, "expert", 1024, m, nil)
	d.target = 2
	src.addDown(d)
	bindTest(d, w)
	t.Cleanup(d.stop)
	return d, w
}

func testMetrics(t testing.TB) *metrics {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.log = testLogger()
	return m
}

// bindTest binds d to w as pion's Bind would.
func bindTest(d *downTrack, w webrtc.TrackLocalWriter) {
	d.mu.Lock()
	d.writer, d.ssrc, d.pt, d.clockRate, d.bound = w, 1234, 96, 90000, true
	d.mu.Unlock()
	if d.eg == nil {
		d.eg = newEgress(nil, 1) // its own worker: a stalled fake writer stalls only d
	}
	d.startOnce.Do(d.start)
}

// vp8Packet builds a raw RTP packet with a VP8 payload.
func vp8Packet(buf []byte, seq uint16, ts uint32, keyframe bool, size int) []byte {
	b := buf[:12+size]
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 99)
	b[12] = 0x10
	b[13] = 0x11
	if keyframe {
		b[13] = 0x10
	}
	return b
}

func videoSource(m *metrics, plis *atomic.Int64) *source {
	src := newSource("s", "expert", webrtc.RTPCodecTypeVideo, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, m,
		func(uint32) error { plis.Add(1); return nil })
	for i := 0; i < 3; i++ {
		src.addLayer(i, uint32(100+i), 512)
	}
	return src
}

// The forwarding path (parse, cache, rewrite, then written inline or queued for
// a worker) allocates nothing per packet.
func TestForward_AllocsPerRunZero(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	var udp atomic.Bool
	udp.Store(true)
	for i := 0; i < 3; i++ {
		d := newDownTrack(src, "expert", 512, m, nil)
		d.target = 2
		if i > 0 {
			d.inline = &udp
		}
		bindTest(d, &fakeWriter{})
		src.addDown(d)
		t.Cleanup(d.stop)
	}
	requireNoAllocs(t, src, "forwarding")
}

// requireNoAllocs fails t if forwarding a top-layer packet of src to its
// subscribers allocates, once the stream has started.
func requireNoAllocs(t *testing.T, src *source, what string) {
	t.Helper()
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	seq := uint16(0)
	src.handlePacket(l, vp8Packet(buf, seq, 0, true, 1000), time.Now().UnixNano())
	allocs := testing.AllocsPerRun(2000, func() {
		seq++
		src.handlePacket(l, vp8Packet(buf, seq, uint32(seq)*3000, false, 1000), time.Now().UnixNano())
	})
	if allocs != 0 {
		t.Fatalf("%s allocates %v per packet", what, allocs)
	}
}

// Forwarding to 49 subscribers reached over UDP, as in production: written
// inline on the publisher's goroutine (the writer is a fake: pion's SRTP and the
// socket are not included).
func BenchmarkForward_49Subscribers(b *testing.B) {
	m := testMetrics(b)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	var udp atomic.Bool
	udp.Store(true)
	for i := 0; i < 49; i++ {
		d := newDownTrack(src, "expert", 512, m, nil)
		d.target, d.inline = 2, &udp
		bindTest(d, &fakeWriter{})
		src.addDown(d)
		b.Cleanup(d.stop)
	}
	benchFanOut(b, src, 49)
}

// benchFanOut times top-layer packets of src forwarded to its n subscribers,
// a keyframe every 300, and reports the time per egress packet.
func benchFanOut(b *testing.B, src *source, n int) {
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	src.handlePacket(l, vp8Packet(buf, 0, 0, true, 1000), time.Now().UnixNano())
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		src.handlePacket(l, vp8Packet(buf, seq, uint32(seq)*3000, seq%300 == 0, 1000), time.Now().UnixNano())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/egress-pkt")
}

// A subscriber whose writer stalls never blocks the publisher's reader: its
// queue fills, it drops to the next keyframe, and the others get everything.
func TestForward_CALL2_StuckSubscriberDropsToKeyframe(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	stuckW := &fakeWriter{block: make(chan struct{}), seqs: []uint16{}}
	okW := &fakeWriter{seqs: []uint16{}}
	stuck := newDownTrack(src, "expert", 32, m, nil)
	healthy := newDownTrack(src, "expert", 4096, m, nil)
	for _, d := range []*downTrack{stuck, healthy} {
		d.target = 2
		src.addDown(d)
		t.Cleanup(d.stop)
	}
	bindTest(stuck, stuckW)
	bindTest(healthy, okW)
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	const n = 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/3)*3000, i%300 == 0, 800), time.Now().UnixNano())
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("publisher reader blocked: %v for %d packets", el, n)
	}
	waitFor(t, 5*time.Second, "healthy subscriber gets every packet", func() bool { return okW.n.Load() == n })
	if counterValue(m.dropped) == 0 || plis.Load() == 0 {
		t.Error("no drop counted or no keyframe requested for the stuck subscriber")
	}
	close(stuckW.block) // the subscriber recovers
	for i := n; i < n+600; i++ {
		// Paced like a real stream: the recovered subscriber keeps up.
		for j := 0; j < 1000 && stuck.q.len() > 16; j++ {
			time.Sleep(time.Millisecond)
		}
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/3)*3000, i%300 == 0, 800), time.Now().UnixNano())
	}
	waitFor(t, 5*time.Second, "stuck subscriber resumes", func() bool { return stuck.q.len() == 0 && stuckW.n.Load() > 100 })
	stuckW.requireContinuous(t) // a jump would make the browser NACK dropped packets
}

// Switching layers at a keyframe keeps one continuous stream: sequence numbers
// follow on and the timestamp does not jump.
func TestForward_CALL2_LayerSwitchContinuous(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	d, w := recordedSubscriber(t, src, m)
	buf := make([]byte, 1500)
	now := time.Now().UnixNano()
	// Layers have unrelated sequence numbers and timestamps, as in a browser.
	base := [3]uint16{100, 30000, 60000}
	tsBase := [3]uint32{5, 1e6, 4e9}
	for f := 0; f < 60; f++ {
		if f == 30 {
			d.mu.Lock()
			d.target = 0
			d.mu.Unlock()
		}
		for li := 0; li < 3; li++ {
			seq := base[li] + uint16(f)
			src.handlePacket(src.layers[li].Load(), vp8Packet(buf, seq, tsBase[li]+uint32(f)*3000, f%20 == 0, 500), now+int64(f)*int64(33*time.Millisecond))
		}
	}
	waitFor(t, 5*time.Second, "writes", func() bool { return w.n.Load() >= 50 })
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.seqs); i++ {
		if w.seqs[i] != w.seqs[i-1]+1 {
			t.Fatalf("sequence gap %d -> %d", w.seqs[i-1], w.seqs[i])
		}
		if dts := w.ts[i] - w.ts[i-1]; dts == 0 || dts > 9000 {
			t.Fatalf("timestamp step %d at packet %d", dts, i)
		}
	}
	if d.cur != 0 || counterValue(m.layerSwitches) != 1 {
		t.Fatalf("current layer %d, want 0", d.cur)
	}
}

// NACK rules: answered once from the cache; a duplicate within the interval and a
// NACK older than the last keyframe sent are ignored.
func TestForward_NACKRules(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	d, w := recordedSubscriber(t, src, m)
	buf := make([]byte, 1500)
	l := src.layers[2].Load()
	now := time.Now().UnixNano()
	for i := 0; i < 100; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(1000+i), uint32(i)*3000, i == 0 || i == 50, 500), now)
	}
	waitFor(t, 5*time.Second, "writes", func() bool { return w.n.Load() == 100 })
	out := make([]byte, 1500)
	d.mu.Lock()
	first := d.lastOutSeq - 99
	d.mu.Unlock()
	d.handleNACK(first+60, out, now)                         // answered
	d.handleNACK(first+60, out, now+int64(time.Millisecond)) // duplicate: ignored
	d.handleNACK(first+10, out, now)                         // before the last keyframe (50): ignored
	d.handleNACK(first+200, out, now)                        // never sent: ignored
	d.eg.kick(d)
	waitFor(t, 5*time.Second, "retransmission", func() bool { return w.n.Load() >= 101 })
	time.Sleep(50 * time.Millisecond) // nothing else may follow
	if got := w.n.Load(); got != 101 {
		t.Fatalf("%d packets written, want 100 + 1 retransmission", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if last := w.seqs[len(w.seqs)-1]; last != first+60 {
		t.Fatalf("retransmitted %d, want %d", last, first+60)
	}
}

func TestParseRTP_RejectsGarbage(t *testing.T) {
	buf := make([]byte, 1500)
	good := vp8Packet(buf, 7, 9, true, 20)
	if h, p, ok := parseRTP(good); !ok || h.seq != 7 || len(p) != 20 || !vp8KeyframeStart(p) {
		t.Fatalf("good packet: %v %v %v", h, len(p), ok)
	}
	bad := [][]byte{nil, {0x80}, make([]byte, 11), {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // version 1
		{0x8f, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                         // 15 CSRCs, none present
		{0x90, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff}, // extension longer than packet
		{0xa0, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 200},              // padding longer than packet
		{0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                        // RTCP sender report
	}
	for i, b := range bad {
		if _, _, ok := parseRTP(b); ok {
			t.Errorf("garbage %d accepted", i)
		}
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add(vp8Packet(make([]byte, 1500), 1, 2, true, 10))
	f.Add([]byte{0x90, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1, 0x10, 0, 0, 0, 0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, ok := parseRTP(b)
		if ok {
			vp8KeyframeStart(p)
		}
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// A late joiner whose target layer's last keyframe is too old to replay starts
// at once on a lower layer's cached keyframe, then moves up at the target's
// next keyframe, in one continuous stream.
func TestForward_CALL2_LateJoinerStartsLowWhenTopKeyframeIsOld(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	buf := make([]byte, 1500)
	now := time.Now().UnixNano()
	// 100 frames: layer 0 one packet per frame, layer 2 four; keyframe at frame 0 only.
	seq := [3]uint16{}
	frame := func(f int, kf bool) {
		for li, per := range [3]int{1, 2, 4} {
			for k := 0; k < per; k++ {
				src.handlePacket(src.layers[li].Load(), vp8Packet(buf, seq[li], uint32(f)*3000, kf && k == 0, 500), now+int64(f)*int64(33*time.Millisecond))
				seq[li]++
			}
		}
	}
	for f := 0; f < 100; f++ {
		frame(f, f == 0)
	}
	d, w := recordedSubscriber(t, src, m)
	frame(100, false) // the top layer cannot be replayed: a keyframe is asked
	frame(101, false)
	waitFor(t, 5*time.Second, "the lower layer's replay", func() bool { return w.n.Load() >= 100 })
	d.mu.Lock()
	cur := d.cur
	d.mu.Unlock()
	if cur != 0 {
		t.Fatalf("late joiner on layer %d, want the replayable layer 0", cur)
	}
	frame(102, true)
	frame(103, false)
	waitFor(t, 5*time.Second, "the top layer", func() bool { return w.n.Load() >= 110 })
	d.mu.Lock()
	cur = d.cur
	d.mu.Unlock()
	if cur != 2 {
		t.Fatalf("late joiner on layer %d after the top layer's keyframe, want 2", cur)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.seqs); i++ {
		if w.seqs[i] != w.seqs[i-1]+1 {
			t.Fatalf("sequence gap %d -> %d", w.seqs[i-1], w.seqs[i])
		}
	}
}

// notReadyWriter drops the first writes the way pion does before SRTP is up:
// (0, nil). Then it records whether each packet starts a VP8 keyframe.
type notReadyWriter struct {
	mu      sync.Mutex
	dropN   int
	keys    []bool
	written atomic.Int64
}

func (w *notReadyWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropN > 0 {
		w.dropN--
		return 0, nil
	}
	w.keys = append(w.keys, vp8KeyframeStart(payload))
	w.written.Add(1)
	return 12 + len(payload), nil
}

func (w *notReadyWriter) Write(b []byte) (int, error) { return len(b), nil }

// Packets written before the connection can carry them are silently dropped
// by pion: the subscriber's stream then starts again at a keyframe instead of
// decoding from the middle of a frame (first frame waited for the next keyframe).
func TestForward_CALL2_StreamRestartsAtKeyframeWhenTransportNotReady(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	buf := make([]byte, 1500)
	l := src.layers[2].Load()
	for i := 0; i < 20; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/2)*3000, i == 0, 500), time.Now().UnixNano())
	}
	w := &notReadyWriter{dropN: 5}
	d := newDownTrack(src, "expert", 1024, m, nil)
	d.target = 2
	src.addDown(d)
	bindTest(d, w)
	t.Cleanup(d.stop)
	for i := 20; i < 60; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/2)*3000, false, 500), time.Now().UnixNano())
		time.Sleep(time.Millisecond) // let the writer see the drops between packets
	}
	waitFor(t, 5*time.Second, "packets written", func() bool { return w.written.Load() > 0 })
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.keys[0] {
		t.Fatal("the first packet the subscriber received does not start a keyframe")
	}
}
