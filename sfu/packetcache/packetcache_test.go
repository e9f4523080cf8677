package packetcache

import (
	"bytes"
	"sync"
	"testing"
)

func TestCache_NACK_StoresAndReturnsAcrossWrap(t *testing.T) {
	c := New(64)
	out := make([]byte, BufSize)
	for i := 0; i < 200; i++ {
		seq := uint16(65500 + i) // wraps past 65535
		c.Store(seq, []byte{byte(i), 1, 2}, i%50 == 0)
	}
	base := uint16(65500)
	last := base + 199
	if n := c.Get(last, out); n != 3 || out[0] != 199 {
		t.Fatalf("newest packet: n=%d first=%d", n, out[0])
	}
	if n := c.Get(last-63, out); n != 3 {
		t.Fatalf("oldest kept packet missing")
	}
	if n := c.Get(last-64, out); n != 0 {
		t.Fatalf("evicted packet returned")
	}
	if kf, ok := c.LastKeyframe(); !ok || kf != base+150 {
		t.Fatalf("last keyframe = %d, %v", kf, ok)
	}
}

func TestCache_OversizedPacketNotCached(t *testing.T) {
	c := New(16)
	c.Store(1, bytes.Repeat([]byte{1}, BufSize+1), false)
	if c.Get(1, make([]byte, 2*BufSize)) != 0 {
		t.Fatal("oversized packet cached")
	}
}

func TestSeqLess_Modulo(t *testing.T) {
	cases := []struct {
		a, b uint16
		want bool
	}{{1, 2, true}, {2, 1, false}, {65535, 0, true}, {0, 65535, false}, {5, 5, false}, {0, 32767, true}}
	for _, c := range cases {
		if got := SeqLess(c.a, c.b); got != c.want {
			t.Errorf("SeqLess(%d,%d)=%v", c.a, c.b, got)
		}
	}
}

func TestCache_ConcurrentStoreAndGet(t *testing.T) {
	c := New(128)
	var wg sync.WaitGroup
	wg.Add(5)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ {
			c.Store(uint16(i), []byte{byte(i), byte(i >> 8)}, false)
		}
	}()
	for g := 0; g < 4; g++ {
		go func() {
			defer wg.Done()
			out := make([]byte, BufSize)
			for i := 0; i < 5000; i++ {
				if n := c.Get(uint16(i), out); n == 2 && (out[0] != byte(i) || out[1] != byte(i>>8)) {
					t.Errorf("seq %d returned another packet", i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCache_StoreGetAllocateNothing(t *testing.T) {
	c := New(512)
	pkt := make([]byte, 1200)
	out := make([]byte, BufSize)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		c.Store(seq, pkt, false)
		c.Get(seq-10, out)
	})
	if allocs != 0 {
		t.Fatalf("allocs per packet = %v", allocs)
	}
}

func BenchmarkCache_Store(b *testing.B) {
	c := New(512)
	pkt := make([]byte, 1200)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Store(uint16(i), pkt, false)
	}
}
