//go:build linux

package sfu

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// directTrack is a video subscriber track on the direct path: the SFU's own
// SRTP over a real loopback socket to peer, with TWCC (extension ID 5).
func directTrack(t testing.TB, m *metrics, src *source, eg *egress) (*downTrack, *fakeWriter, srtpKeys, *subOut, *net.UDPConn) {
	t.Helper()
	if eg == nil {
		eg = newEgress(loopbackBatchConn(t), 1)
		t.Cleanup(eg.close)
	}
	keys := srtpKeys{key: bytes.Repeat([]byte{7}, 16), salt: bytes.Repeat([]byte{9}, 12), profile: srtp.ProtectionProfileAeadAes128Gcm}
	peer := loopbackUDP(t)
	addr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	out := &subOut{est: newBWE(2_500_000, 50_000, 10_000_000, nil), conn: eg.conn}
	out.keys.Store(&keys)
	out.peer.Store(&addr)
	udp := &atomic.Bool{}
	udp.Store(true)
	d := newDownTrack(src, "expert", 512, m, nil)
	d.target, d.inline, d.sub, d.eg = 2, udp, out, eg
	w := &fakeWriter{seqs: []uint16{}}
	bindTest(d, w)
	d.mu.Lock()
	d.twcc, d.twccID = true, 5
	d.mu.Unlock()
	src.addDown(d)
	t.Cleanup(d.stop)
	return d, w, keys, out, peer
}

// Over UDP the SFU encrypts and sends each packet itself: the peer decrypts
// every one with the same keys, in one continuous stream carrying consecutive
// transport-wide sequence numbers; the estimator learns each send and the
// sender report counts them.
func TestDirect_CALL2_PeerDecryptsContinuousStream(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	d, w, keys, out, rx := directTrack(t, m, src, nil)
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	const n = 300
	var payloadBytes uint64
	got := make(chan [][]byte, 1)
	go func() { // reads as the packets come: the socket's buffer holds fewer
		var pkts [][]byte
		_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range n {
			in := make([]byte, 2000)
			k, err := rx.Read(in)
			if err != nil {
				break
			}
			pkts = append(pkts, in[:k])
		}
		got <- pkts
	}()
	for i := 0; i < n; i++ {
		p := vp8Packet(buf, uint16(60000+i), uint32(i)*3000, i == 0, 1000)
		payloadBytes += uint64(len(p) - 12)
		src.handlePacket(l, p, time.Now().UnixNano())
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // a real frame pace: the reader keeps up
		}
	}
	pkts := <-got
	if len(pkts) != n {
		t.Fatalf("the peer got %d of %d packets", len(pkts), n)
	}
	if w.n.Load() != 0 {
		t.Fatalf("%d packets went through pion's writer, not the direct path", w.n.Load())
	}
	if got := counterValue(m.directOut); got != n {
		t.Fatalf("direct packets counted %v, want %d", got, n)
	}
	dec, err := srtp.CreateContext(keys.key, keys.salt, keys.profile)
	if err != nil {
		t.Fatal(err)
	}
	var h rtp.Header
	for i, pkt := range pkts {
		plain, err := dec.DecryptRTP(nil, pkt, &h)
		if err != nil {
			t.Fatalf("packet %d does not decrypt: %v", i, err)
		}
		if h.SequenceNumber != uint16(60000+i) || h.SSRC != 1234 || h.PayloadType != 96 {
			t.Fatalf("packet %d: seq %d ssrc %d pt %d", i, h.SequenceNumber, h.SSRC, h.PayloadType)
		}
		ext := h.GetExtension(5)
		if len(ext) != 2 || binary.BigEndian.Uint16(ext) != uint16(i) {
			t.Fatalf("packet %d: transport-wide sequence number %x", i, ext)
		}
		if len(plain)-h.MarshalSize() != 1000 {
			t.Fatalf("packet %d: payload %d bytes", i, len(plain)-h.MarshalSize())
		}
	}
	out.est.mu.Lock()
	last := out.est.sent[(n-1)%bweRing]
	out.est.mu.Unlock()
	if last.seq != n-1 || last.size == 0 {
		t.Fatalf("the estimator did not record the last send: %+v", last)
	}
	sr, ok := d.senderReport(time.Now())
	if !ok || sr.SSRC != 1234 || sr.PacketCount != n || uint64(sr.OctetCount) != payloadBytes {
		t.Fatalf("sender report %+v, want %d packets and %d octets", sr, n, payloadBytes)
	}
}

// Until DTLS has given keys (or when the path is not UDP) the track writes
// through pion, and nothing reaches the socket.
func TestDirect_CALL2_PionPathUntilKeys(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	_, w, _, out, _ := directTrack(t, m, src, nil)
	out.keys.Store(nil)
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	for i := 0; i < 10; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i)*3000, i == 0, 500), time.Now().UnixNano())
	}
	if w.n.Load() != 10 || counterValue(m.directOut) != 0 {
		t.Fatalf("pion writer got %d, direct %v; want 10 and 0", w.n.Load(), counterValue(m.directOut))
	}
}

// The direct path allocates nothing per packet either.
func TestDirect_AllocsPerRunZero(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	directTrack(t, m, src, nil)
	requireNoAllocs(t, src, "the direct path")
}

// BenchmarkDirect_49Subscribers is the SFU's whole egress for one publisher
// packet to 49 UDP subscribers: forwarding, SRTP, TWCC stamping and the
// sendmmsg to loopback peers.
func BenchmarkDirect_49Subscribers(b *testing.B) {
	m := testMetrics(b)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	eg := newEgress(loopbackBatchConn(b), 1) // one media socket for all, as in the server
	b.Cleanup(eg.close)
	for range 49 {
		_, _, _, _, rx := directTrack(b, m, src, eg)
		go func() { // drains until the socket closes at cleanup
			in := make([]byte, 2000)
			for {
				if _, err := rx.Read(in); err != nil {
					return
				}
			}
		}()
	}
	benchFanOut(b, src, 49)
}
