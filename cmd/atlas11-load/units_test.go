package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
)

func TestSeqTracker_LossIsWhatNACKNeverRepaired(t *testing.T) {
	var tr seqTracker
	// Start just below the wrap so extended numbering is exercised.
	for i := 0; i < 10; i++ {
		if i == 5 {
			continue
		}
		if !tr.add(uint16(65530 + i)) {
			t.Fatalf("in-order packet %d reported as late", i)
		}
	}
	if exp, recv := tr.counts(); exp != 10 || recv != 9 {
		t.Fatalf("before repair: expected %d received %d, want 10 and 9", exp, recv)
	}
	if holes := tr.newHoles(2); holes != 1 {
		t.Fatalf("holes = %d, want 1", holes)
	}
	if tr.add(65535) { // the retransmission fills the gap
		t.Fatal("a retransmission is not a fresh packet")
	}
	if tr.add(65535) {
		t.Fatal("a duplicate is not a fresh packet")
	}
	if exp, recv := tr.counts(); exp != 10 || recv != 10 {
		t.Fatalf("after repair: expected %d received %d, want 10 and 10", exp, recv)
	}
	if holes := tr.newHoles(0); holes != 0 {
		t.Fatalf("holes reported twice or after repair: %d", holes)
	}
}

// The SFU switches layers and answers new subscribers at keyframes it finds
// from the VP8 payload descriptor (RFC 7741), so the synthetic frames must get
// those bits exactly right.
func TestVP8Frame_DescriptorAndKeyframeBits(t *testing.T) {
	for _, key := range []bool{true, false} {
		pkts := vp8Frame(nil, 6250, key, 0x1234, 2, 77, 99, 1280, 720)
		if len(pkts) < 6 {
			t.Fatalf("key=%v: %d packets for 6250 bytes", key, len(pkts))
		}
		body := 0
		for i, p := range pkts {
			if len(p) > maxPayload {
				t.Fatalf("packet %d is %d bytes", i, len(p))
			}
			if p[0]&0x80 == 0 || p[1]&0x80 == 0 || p[2]&0x80 == 0 {
				t.Fatalf("packet %d: X, I or M bit missing: % x", i, p[:4])
			}
			if pid := uint16(p[2]&0x7f)<<8 | uint16(p[3]); pid != 0x1234 {
				t.Fatalf("picture ID %#x", pid)
			}
			start := p[0]&0x10 != 0 && p[0]&0x0f == 0
			if start != (i == 0) {
				t.Fatalf("packet %d: S bit %v", i, start)
			}
			tr, ok := readTrailer(p)
			if !ok || tr.layer != 2 || tr.frame != 77 || tr.sentNs != 99 || (tr.flags&flagKey != 0) != key ||
				(tr.flags&flagFirst != 0) != (i == 0) || (tr.flags&flagLast != 0) != (i == len(pkts)-1) {
				t.Fatalf("packet %d trailer %+v ok=%v", i, tr, ok)
			}
			hdr := 0
			if i == 0 {
				hdr = 3
				if key {
					hdr = 10
				}
				if (p[4]&0x01 == 0) != key {
					t.Fatalf("key=%v but P bit %d", key, p[4]&1)
				}
				if key && (p[7] != 0x9d || p[8] != 0x01 || p[9] != 0x2a) {
					t.Fatalf("keyframe start code missing: % x", p[4:14])
				}
			}
			body += len(p) - 4 - hdr - trailerLen
		}
		if body != 6250 {
			t.Fatalf("frame body %d bytes, want 6250", body)
		}
	}
	if _, ok := readTrailer([]byte("too short")); ok {
		t.Fatal("garbage accepted as a trailer")
	}
}

func TestScrape_CountersAndHistogramQuantile(t *testing.T) {
	before := `# HELP x
process_cpu_seconds_total 1.5
atlas11_sfu_packets_out_total 100
atlas11_sfu_forward_latency_seconds_bucket{le="0.001"} 10
atlas11_sfu_forward_latency_seconds_bucket{le="0.002"} 10
atlas11_sfu_forward_latency_seconds_bucket{le="+Inf"} 10
atlas11_sfu_refusals_total{code="room_full"} 2
`
	after := `process_cpu_seconds_total 2.5
atlas11_sfu_packets_out_total 200100
atlas11_sfu_forward_latency_seconds_bucket{le="0.001"} 90
atlas11_sfu_forward_latency_seconds_bucket{le="0.002"} 110
atlas11_sfu_forward_latency_seconds_bucket{le="+Inf"} 110
atlas11_sfu_refusals_total{code="room_full"} 3
atlas11_sfu_refusals_total{code="wrong_room"} 1
garbage line without value
`
	b, err := parseMetrics(strings.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseMetrics(strings.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	if d := delta(b, a, mEgress); d != 200000 {
		t.Fatalf("egress delta %v", d)
	}
	if us := delta(b, a, mCPU) * 1e6 / delta(b, a, mEgress); us != 5 {
		t.Fatalf("cpu per packet %v µs, want 5", us)
	}
	if d := delta(b, a, "atlas11_sfu_refusals_total"); d != 2 {
		t.Fatalf("labelled samples summed: %v, want 2", d)
	}
	// 100 observations: 80 in (0, 1ms], 20 in (1ms, 2ms]: p99 is 95 % into the second bucket.
	if q := histQuantile(b, a, mLatencyBkt, 0.99); math.Abs(q-0.00195) > 1e-9 {
		t.Fatalf("p99 = %v, want 0.00195", q)
	}
	over := `atlas11_sfu_forward_latency_seconds_bucket{le="0.001"} 90
atlas11_sfu_forward_latency_seconds_bucket{le="0.002"} 100
atlas11_sfu_forward_latency_seconds_bucket{le="+Inf"} 130
`
	o, _ := parseMetrics(strings.NewReader(over))
	if q := histQuantile(b, o, mLatencyBkt, 0.99); !math.IsInf(q, 1) {
		t.Fatalf("p99 above the largest bucket = %v, want +Inf", q)
	}
	if q := histQuantile(a, a, mLatencyBkt, 0.99); !math.IsNaN(q) {
		t.Fatalf("p99 without observations = %v, want NaN", q)
	}
}

func TestCapFigures_SettleAndReturn(t *testing.T) {
	s := int64(time.Second)
	layers := []layerChange{{0, 2}, {3 * s, 1}, {4 * s, 0}, {11 * s, 1}, {14 * s, 2}}
	settle, back := capFigures(layers, 2*s, 10*s)
	if settle == nil || *settle != 2000 {
		t.Fatalf("settle = %v, want 2000 ms", settle)
	}
	if back == nil || *back != 4000 {
		t.Fatalf("back = %v, want 4000 ms", back)
	}
	// Never reached the low layer, never came back.
	settle, back = capFigures([]layerChange{{0, 2}, {3 * s, 1}}, 2*s, 10*s)
	if settle != nil || back != nil {
		t.Fatalf("settle %v back %v, want nil nil", settle, back)
	}
}

func TestConfig_BadInputRefusedClearly(t *testing.T) {
	env := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-subscribers", "50"}, "-subscribers"},
		{[]string{"-subscribers", "0"}, "-subscribers"},
		{[]string{"-duration", "1h"}, "-duration"},
		{[]string{"-late", "49"}, "-late"},
		{[]string{"-subscribers", "3", "-late", "1", "-capped", "2"}, "-capped"},
		{[]string{"-layers-kbps", "1,2"}, "-layers-kbps"},
		{[]string{"-layers-kbps", "150,x,1500"}, "-layers-kbps"},
		{[]string{"-cap-kbps", "1"}, "-cap-kbps"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"-nope"}, "nope"},
	} {
		_, err := parseConfig(tc.args, env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	c, err := parseConfig(nil, func(k string) string {
		return map[string]string{"ATLAS11_OPERATOR_EMAIL": "ops@example.test"}[k]
	}, io.Discard)
	if err != nil || c.subscribers != 49 || c.duration != 20*time.Second || c.opEmail != "ops@example.test" || !c.twcc ||
		c.spec.bitrates != [3]int{150_000, 500_000, 1_500_000} {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if _, err := newAPIAdmission("ftp://x", "", ""); err == nil {
		t.Fatal("a non-HTTP URL was accepted")
	}
}

// The cap is a bottleneck link: packets beyond its rate wait (what delay-based
// estimation sees), and once the queue holds maxQueue of delay they are dropped.
func TestShaper_CapDelaysThenDrops(t *testing.T) {
	sh := newShaper()
	sh.maxQueue = 50 * time.Millisecond
	sh.setRate(400_000) // 1000-byte packets (+28 header bytes) take ~20.6 ms each
	sent := 0
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if sent == 300 {
			return 0, nil, io.EOF
		}
		sent++
		time.Sleep(time.Millisecond) // 8 Mbit/s arriving
		return 1000, a, nil
	})
	r := sh.BindRemoteStream(&interceptor.StreamInfo{}, src)
	buf := make([]byte, 1500)
	start := time.Now()
	for i := 0; i < 10; i++ {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	// 10 packets through a 400 kbit/s link take at least 9 transmission times.
	if el < 150*time.Millisecond {
		t.Fatalf("10 packets passed in %v: not rate limited", el)
	}
	if sh.dropped.Load() == 0 {
		t.Fatal("an endless burst was never tail-dropped")
	}
	for { // the stream's end reaches the reader
		if _, _, err := r.Read(buf, nil); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
	}
}
