package sfu

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

func testKeys(seed byte) srtpKeys {
	return srtpKeys{key: bytes.Repeat([]byte{seed}, 16), salt: bytes.Repeat([]byte{seed + 1}, 12), profile: srtp.ProtectionProfileAeadAes128Gcm}
}

// The socket's reader takes a publisher's media once its track is announced and
// forwards it on the spot; what it cannot place (another address, STUN, RTCP,
// an SSRC pion has not announced) goes to pion, and a packet that does not
// decrypt is dropped and counted.
func TestIngress_CALL2_PublisherMediaReadBySocketReader(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	_, w := recordedSubscriber(t, src, m)

	sess := &session{s: &Server{m: m}}
	in := newPubIn(sess)
	keys := testKeys(3)
	in.keys.Store(&keys)
	enc, err := keys.newContext()
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter()
	from := netip.MustParseAddrPort("192.0.2.1:5000")
	r.move(netip.AddrPort{}, from, in)
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	packet := func(seq uint16) []byte {
		p := vp8Packet(buf, seq, uint32(seq)*3000, seq == 0, 500)
		binary.BigEndian.PutUint32(p[8:], l.ssrc)
		out, err := enc.EncryptRTP(nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if r.receive(packet(0), from) {
		t.Fatal("a stream pion has not announced was taken")
	}
	in.addLayer(l)
	if r.receive(packet(1), netip.MustParseAddrPort("192.0.2.2:5000")) {
		t.Fatal("a packet from another address was taken")
	}
	if r.receive([]byte{0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8}, from) {
		t.Fatal("a STUN message was taken")
	}
	sr, _ := (&rtcp.SenderReport{SSRC: l.ssrc}).Marshal()
	if r.receive(sr, from) {
		t.Fatal("the publisher's RTCP was taken")
	}
	for seq := uint16(0); seq < 20; seq++ {
		if !r.receive(packet(seq), from) {
			t.Fatalf("packet %d went to pion", seq)
		}
	}
	waitFor(t, 5*time.Second, "20 packets forwarded", func() bool { return w.n.Load() == 20 })
	if counterValue(m.directIn) != 20 {
		t.Fatalf("counted %v direct packets, want 20", counterValue(m.directIn))
	}
	bad := packet(20)
	bad[len(bad)-1] ^= 0xff
	if !r.receive(bad, from) || counterValue(m.packetsIn) != 20 || counterValue(m.malformed) != 1 {
		t.Fatalf("a forged packet: forwarded %d, malformed %v", w.n.Load(), counterValue(m.malformed))
	}
	r.move(from, netip.AddrPort{}, nil)
	if r.receive(packet(21), from) {
		t.Fatal("taken after the route was removed")
	}
}

// A subscriber's feedback read by the socket's reader reaches its track: a
// NACK is answered from the cache, a PLI asks the publisher for a keyframe,
// REMB caps the estimate.
func TestIngress_CALL2_SubscriberFeedbackReadBySocketReader(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	d, w := recordedSubscriber(t, src, m)
	sess := &session{s: &Server{m: m}, downs: map[string]*subTrack{src.id: {d: d}},
		egress: &subOut{est: newBWE(2_500_000, 50_000, 10_000_000, nil)}}
	d.sub = sess.egress
	in := &subIn{sess: sess}
	keys := testKeys(5)
	in.keys.Store(&keys)
	enc, err := keys.newContext()
	if err != nil {
		t.Fatal(err)
	}
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	for seq := uint16(0); seq < 10; seq++ {
		src.handlePacket(l, vp8Packet(buf, seq, uint32(seq)*3000, seq == 0, 500), time.Now().UnixNano())
	}
	feedback := func(pkts ...rtcp.Packet) []byte {
		raw, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.EncryptRTCP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	now := time.Now().UnixNano()
	if !in.receive(feedback(
		&rtcp.TransportLayerNack{MediaSSRC: 1234, Nacks: []rtcp.NackPair{{PacketID: 4}}},
		&rtcp.PictureLossIndication{MediaSSRC: 1234},
		&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 300_000, SSRCs: []uint32{1234}},
	), now) {
		t.Fatal("feedback went to pion")
	}
	waitFor(t, 5*time.Second, "the NACKed packet resent", func() bool { return w.n.Load() == 11 })
	if counterValue(m.retransmits) != 1 || plis.Load() == 0 || sess.remb.Load() != 300_000 {
		t.Fatalf("retransmits %v, keyframe requests %d, REMB %d", counterValue(m.retransmits), plis.Load(), sess.remb.Load())
	}
	if in.receive(vp8Packet(buf, 1, 1, false, 100), now) {
		t.Fatal("RTP on a subscriber connection was taken")
	}
	if !in.receive(append(feedback(&rtcp.PictureLossIndication{MediaSSRC: 1234})[:20], 0, 0, 0, 0), now) {
		t.Fatal("undecryptable feedback went to pion")
	}
}
