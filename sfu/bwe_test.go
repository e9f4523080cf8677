package sfu

import (
	"sort"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// bweLink drives the estimator with synthetic traffic through a simulated
// bottleneck; the receiver's feedback is built by pion's own TWCC recorder (as
// the load tool's and Pion clients' feedback is) and goes through RTCP
// marshalling, as on the wire. Time is simulated: nothing sleeps.
type bweLink struct {
	t   *testing.T
	b   *bwe
	now int64 // server clock, ns

	rec      *twcc.Recorder
	recvT0   int64 // receiver clock origin, ns: a different clock than the server's
	seq      uint16
	rateBps  int64 // 0: no bottleneck
	maxQueue time.Duration
	linkFree int64
	flight   []flightPacket
	dropNth  int // every nth packet is lost on the way (random loss), 0: none
	sent     int
	reorder  bool // swap the arrival order of each pair of feedback reports
	held     []rtcp.Packet
	stallTo  int64 // the receiver reads nothing until then (a descheduled client)
	lateNth  int   // every nth packet arrives 5 ms late, after later ones (reordering)
}

type flightPacket struct {
	seq     uint16
	arrival int64
}

func newBWELink(t *testing.T, initial int64) *bweLink {
	l := &bweLink{t: t, now: int64(1_000 * time.Second), recvT0: int64(333 * time.Second), rec: twcc.NewRecorder(1),
		maxQueue: 200 * time.Millisecond}
	l.b = newBWE(initial, 50_000, 10_000_000, func() int64 { return l.now })
	return l
}

// send puts one packet of size bytes on the link now.
func (l *bweLink) send(size int) {
	seq := l.seq
	l.seq++
	l.sent++
	l.b.onSent(seq, size, l.now)
	if l.dropNth > 0 && l.sent%l.dropNth == 0 {
		return
	}
	at := l.now + int64(time.Millisecond)
	if l.rateBps > 0 {
		start := max(l.now, l.linkFree)
		if start-l.now > int64(l.maxQueue) {
			return // tail drop
		}
		l.linkFree = start + int64(size)*8*int64(time.Second)/l.rateBps
		at = l.linkFree + int64(time.Millisecond)
	}
	if l.lateNth > 0 && l.sent%l.lateNth == 0 {
		at += int64(5 * time.Millisecond)
	}
	if at < l.stallTo {
		at = l.stallTo + int64(len(l.flight))*int64(10*time.Microsecond) // read late, all at once
	}
	l.flight = append(l.flight, flightPacket{seq: seq, arrival: at})
}

// run sends video at bps (30 frames/s of 1100-byte packets, every frame's
// packets back to back) plus audio (50 packets/s of 100 bytes) for d, with
// feedback every 100 ms.
func (l *bweLink) run(bps int64, d time.Duration) {
	end := l.now + int64(d)
	const tick = int64(time.Millisecond)
	for l.now < end {
		l.now += tick
		ms := (l.now / tick) % 1000
		if ms%33 == 0 {
			frame := int(bps / 8 / 30)
			for frame > 0 {
				n := min(frame, 1100)
				l.send(n)
				frame -= n
			}
		}
		if ms%20 == 0 {
			l.send(100)
		}
		l.deliver()
		if ms%100 == 0 {
			l.feedback()
		}
	}
}

func (l *bweLink) deliver() {
	sort.SliceStable(l.flight, func(i, j int) bool { return l.flight[i].arrival < l.flight[j].arrival })
	keep := l.flight[:0]
	for _, p := range l.flight {
		if p.arrival <= l.now {
			l.rec.Record(2, p.seq, (p.arrival-l.recvT0)/1000)
		} else {
			keep = append(keep, p)
		}
	}
	l.flight = keep
}

func (l *bweLink) feedback() {
	if l.now < l.stallTo {
		return
	}
	pkts := l.rec.BuildFeedbackPacket()
	var wire []rtcp.Packet
	for _, p := range pkts {
		raw, err := p.Marshal()
		if err != nil {
			l.t.Fatal(err)
		}
		got, err := rtcp.Unmarshal(raw)
		if err != nil {
			l.t.Fatal(err)
		}
		wire = append(wire, got...)
	}
	if l.reorder {
		if l.held == nil {
			l.held = wire
			return
		}
		wire, l.held = append(wire, l.held...), nil
	}
	if err := l.b.onRTCP(wire); err != nil {
		l.t.Fatal(err)
	}
}

func (l *bweLink) estimate() int64 { return int64(l.b.GetTargetBitrate()) }

// CALL-2: an uncongested link keeps the estimate above the top layer, even
// with a receiver that is descheduled for a moment (its late reads are not a
// queue on the link) and reordered feedback.
func TestBWE_CALL2_UncongestedStaysHigh(t *testing.T) {
	l := newBWELink(t, 2_500_000)
	l.reorder = true
	l.lateNth = 7
	l.run(1_500_000, 3*time.Second)
	if e := l.estimate(); e < 2_500_000 {
		t.Fatalf("uncongested: estimate %d, want >= the initial 2.5 Mb/s", e)
	}
	for i := 0; i < 5; i++ {
		l.stallTo = l.now + int64(150*time.Millisecond)
		l.run(1_500_000, time.Second)
	}
	if e := l.estimate(); e < 2_500_000 || l.b.congestions > 0 {
		t.Fatalf("receiver stalls read as congestion: estimate %d, %d congestions", e, l.b.congestions)
	}
}

// CALL-2: a 300 kb/s bottleneck under a 1.5 Mb/s stream brings the estimate
// under the middle layer within a second, and it stays there while the link is
// capped, even while only the low layer is sent.
func TestBWE_CALL2_CapBringsEstimateDown(t *testing.T) {
	l := newBWELink(t, 2_500_000)
	l.run(1_500_000, 2*time.Second)
	l.rateBps = 300_000
	l.run(1_500_000, time.Second)
	if e := l.estimate(); e > 300_000 || e < 150_000 {
		t.Fatalf("capped at 300 kb/s: estimate %d after 1 s", e)
	}
	for i := 0; i < 8; i++ { // on the low layer, the receiver busy now and then: compressed trains
		l.run(150_000, 900*time.Millisecond)
		l.stallTo = l.now + int64(100*time.Millisecond)
		l.run(150_000, 100*time.Millisecond)
	}
	if e := l.estimate(); e > 400_000 {
		t.Fatalf("capped at 300 kb/s on the low layer: estimate %d rose above the link", e)
	}
}

// CALL-2: once the cap lifts and the selector probes the middle layer, the
// packet trains of its frames show the link's capacity and the estimate rises
// above the top layer at once. Before that, within the hold that follows
// congestion, trains do not raise it.
func TestBWE_CALL2_RecoversAfterCapLifts(t *testing.T) {
	l := newBWELink(t, 2_500_000)
	l.rateBps = 300_000
	l.run(1_500_000, time.Second)
	congested := l.b.lastCong
	l.run(150_000, 3*time.Second)
	l.rateBps = 0
	l.run(150_000, 3*time.Second) // low keyframes are trains too, but within the hold
	if e := l.estimate(); e > 1_000_000 || l.now-congested > int64(bweMinCapHold) {
		t.Fatalf("estimate %d within the hold after congestion", e)
	}
	l.run(500_000, time.Second) // the selector's probe: a middle layer frame is two packets
	if e := l.estimate(); e < 2_000_000 {
		t.Fatalf("cap lifted: estimate %d, want above the top layer", e)
	}
}

// CALL-2: heavy loss without a queue (a policer) brings the estimate down when
// it lasts, but neither a stray lost packet nor one second of it moves the
// layer: a receiver that was busy for a moment overflows its socket buffer
// without any link being full.
func TestBWE_CALL2_Loss(t *testing.T) {
	l := newBWELink(t, 2_500_000)
	l.dropNth = 50 // 2 %
	l.run(1_500_000, 3*time.Second)
	if e := l.estimate(); e < 2_500_000 {
		t.Fatalf("2 %% loss: estimate %d fell", e)
	}
	l.dropNth = 3 // 33 %
	l.run(1_500_000, time.Second)
	if e := l.estimate(); e < 1_600_000 {
		t.Fatalf("1 s of 33 %% loss: estimate %d fell under the top layer", e)
	}
	l.run(1_500_000, 3*time.Second)
	if e := l.estimate(); e > 1_400_000 {
		t.Fatalf("4 s of 33 %% loss: estimate %d did not fall", e)
	}
}

// Bad input: feedback that claims more packets than it describes, or deltas
// for packets never sent, changes nothing and never panics.
func TestBWE_CALL2_MalformedFeedbackIgnored(t *testing.T) {
	l := newBWELink(t, 2_500_000)
	l.run(1_500_000, time.Second)
	before := l.estimate()
	bad := []rtcp.Packet{
		&rtcp.TransportLayerCC{BaseSequenceNumber: l.seq - 10, PacketStatusCount: 65535, ReferenceTime: 0xFFFFFF,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 8000}}},
		&rtcp.TransportLayerCC{BaseSequenceNumber: l.seq + 1000, PacketStatusCount: 3,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{2, 2, 2, 2, 2, 2, 2}}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: 2, Delta: -8_000_000}, nil, {Type: 2, Delta: 8_000_000}}},
		&rtcp.TransportLayerCC{PacketStatusCount: 5, PacketChunks: []rtcp.PacketStatusChunk{nil}},
	}
	if err := l.b.onRTCP(bad); err != nil {
		t.Fatal(err)
	}
	if e := l.estimate(); e != before {
		t.Fatalf("malformed feedback moved the estimate: %d -> %d", before, e)
	}
	l.run(1_500_000, time.Second) // and the stream's own feedback still works
	if e := l.estimate(); e < before {
		t.Fatalf("estimate %d after malformed feedback, was %d", e, before)
	}
}

// The estimator's share of the forwarding path allocates nothing per packet.
func TestBWE_CALL2_SendPathAllocatesNothing(t *testing.T) {
	e := newBWE(2_500_000, 50_000, 10_000_000, nil)
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		e.onSent(seq, 1200, int64(seq))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}
