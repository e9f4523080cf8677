//go:build linux

package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tracks share a few egress workers: one whose writer blocks (a stalled peer)
// must not hold back the others, and every packet of the healthy ones arrives
// in order.
func TestEgress_CALL2_BlockedWriterDoesNotStallOthers(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	eg := newEgress(nil, egressWorkers)
	t.Cleanup(eg.close)
	stuckW := &fakeWriter{block: make(chan struct{})}
	t.Cleanup(func() { close(stuckW.block) })
	var healthy []*fakeWriter
	for i := 0; i < 8; i++ {
		w := &fakeWriter{}
		if i > 0 {
			w.seqs = []uint16{}
			healthy = append(healthy, w)
		} else {
			w = stuckW
		}
		d := newDownTrack(src, "expert", 64, m, nil)
		d.target = 2
		d.eg = eg
		src.addDown(d)
		t.Cleanup(d.stop)
		bindTest(d, w)
	}
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	const n = 1500
	for i := 0; i < n; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/3)*3000, i == 0, 800), time.Now().UnixNano())
		if i%32 == 31 { // paced: healthy subscribers keep up
			waitFor(t, 5*time.Second, "healthy subscribers drain", func() bool {
				for _, w := range healthy {
					if w.n.Load() < int64(i+1) {
						return false
					}
				}
				return true
			})
		}
	}
	waitFor(t, 5*time.Second, "every healthy subscriber gets every packet", func() bool {
		for _, w := range healthy {
			if w.n.Load() != n {
				return false
			}
		}
		return true
	})
	for _, w := range healthy {
		w.requireContinuous(t)
	}
}

// A subscriber reached over UDP is written on the publisher's goroutine, before
// handlePacket returns (no hand-off to a worker), in order; one whose path may
// block (ICE-TCP) still goes through a worker, so its stall holds back no one.
func TestEgress_CALL2_UDPSubscribersWrittenInline(t *testing.T) {
	m := testMetrics(t)
	var plis atomic.Int64
	src := videoSource(m, &plis)
	eg := newEgress(nil, 1)
	t.Cleanup(eg.close)
	var udp atomic.Bool
	udp.Store(true)
	var tcp atomic.Bool
	inline := &fakeWriter{seqs: []uint16{}}
	stuck := &fakeWriter{block: make(chan struct{})}
	t.Cleanup(func() { close(stuck.block) })
	for _, c := range []struct {
		w    *fakeWriter
		path *atomic.Bool
	}{{inline, &udp}, {stuck, &tcp}} {
		d := newDownTrack(src, "expert", 64, m, nil)
		d.target, d.eg, d.inline = 2, eg, c.path
		src.addDown(d)
		t.Cleanup(d.stop)
		bindTest(d, c.w)
	}
	l := src.layers[2].Load()
	buf := make([]byte, 1500)
	for i := 0; i < 300; i++ {
		src.handlePacket(l, vp8Packet(buf, uint16(i), uint32(i/3)*3000, i == 0, 800), time.Now().UnixNano())
		if got := inline.n.Load(); got != int64(i+1) {
			t.Fatalf("after packet %d the UDP subscriber has %d packets: not written inline", i, got)
		}
	}
	inline.requireContinuous(t)
}

// Datagrams gathered during an egress pass all reach the peer, in order, once
// the pass ends; outside a pass they go at once.
func TestEgress_BatchedDatagramsAllArrive(t *testing.T) {
	b := loopbackBatchConn(t)
	peer := loopbackUDP(t)
	_ = peer.SetReadBuffer(1 << 20)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port()) // v4-mapped, as a dual-stack socket reports it
	const n = 3*batchMax + 5
	b.begin()
	for i := 0; i < n; i++ {
		if _, err := b.WriteToAddrPort([]byte{byte(i), byte(i >> 8)}, to); err != nil {
			t.Fatal(err)
		}
	}
	b.end()
	if _, err := b.WriteToAddrPort([]byte{byte(n), byte(n >> 8)}, to); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	p := make([]byte, 64)
	for i := 0; i <= n; i++ {
		k, _, err := peer.ReadFromUDPAddrPort(p)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, n+1, err)
		}
		if k != 2 || int(p[0])|int(p[1])<<8 != i {
			t.Fatalf("datagram %d: got % x", i, p[:k])
		}
	}
}

// Writers in concurrent passes share the socket's two batches: while one batch
// is in the kernel the next fills. Every datagram still arrives, and each
// destination sees its datagrams in the order they were written.
func TestEgress_ConcurrentPassesKeepEveryDatagramInOrder(t *testing.T) {
	b := loopbackBatchConn(t)
	const writers, passes, perPass = 4, 50, 40 // perPass > batchMax/2: batches fill mid-pass
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		peer := loopbackUDP(t)
		to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
		var got atomic.Int64
		stopped := make(chan struct{})
		wg.Add(2)
		go func() { // the peer checks order
			defer wg.Done()
			defer close(stopped)
			p := make([]byte, 16)
			_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			for want := 0; want < passes*perPass; want++ {
				n, _, err := peer.ReadFromUDPAddrPort(p)
				if err != nil {
					errs <- fmt.Errorf("writer %d: datagram %d: %v", w, want, err)
					return
				}
				if n != 2 || int(p[0])|int(p[1])<<8 != want {
					errs <- fmt.Errorf("writer %d: datagram %d arrived as % x", w, want, p[:n])
					return
				}
				got.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			seq := 0
			for range passes {
				b.begin()
				for range perPass {
					_, _ = b.WriteToAddrPort([]byte{byte(seq), byte(seq >> 8)}, to)
					seq++
				}
				b.end()
				// Paced to the peer, so a slow reader's full buffer cannot drop any.
				for deadline := time.Now().Add(10 * time.Second); got.Load() < int64(seq) && time.Now().Before(deadline); {
					select {
					case <-stopped: // the peer gave up: the test has failed
						return
					case <-time.After(100 * time.Microsecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
