// Package packetcache keeps the last packets of one RTP stream in a fixed ring of
// inline buffers, so NACKs can be answered without allocating per packet.
package packetcache

import "sync"

// BufSize is the largest packet kept; larger ones are not cached.
const BufSize = 1500

type entry struct {
	seq      uint16
	valid    bool
	keyframe bool
	n        uint16
	buf      [BufSize]byte
}

// Cache is a ring of the last Size() packets of one stream, indexed by sequence
// number. It is safe for concurrent use: one writer (the stream's reader) and any
// number of NACK handlers.
type Cache struct {
	mu      sync.Mutex
	entries []entry
	mask    uint16
	// lastKeyframe is the sequence number of the first packet of the newest keyframe.
	lastKeyframe uint16
	hasKeyframe  bool
}

// New returns a cache holding size packets; size is rounded up to a power of two
// between 16 and 32768.
func New(size int) *Cache {
	n := 16
	for n < size && n < 32768 {
		n <<= 1
	}
	return &Cache{entries: make([]entry, n), mask: uint16(n - 1)}
}

// Size is the number of slots.
func (c *Cache) Size() int { return len(c.entries) }

// Store copies pkt (a whole RTP packet) under seq. keyframeStart marks the first
// packet of a keyframe.
func (c *Cache) Store(seq uint16, pkt []byte, keyframeStart bool) {
	if len(pkt) > BufSize {
		return
	}
	c.mu.Lock()
	e := &c.entries[seq&c.mask]
	e.seq = seq
	e.valid = true
	e.keyframe = keyframeStart
	e.n = uint16(copy(e.buf[:], pkt))
	if keyframeStart && (!c.hasKeyframe || SeqLess(c.lastKeyframe, seq)) {
		c.lastKeyframe = seq
		c.hasKeyframe = true
	}
	c.mu.Unlock()
}

// Get copies the packet stored under seq into out and returns its length, or 0
// when it is no longer (or never was) in the cache.
func (c *Cache) Get(seq uint16, out []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &c.entries[seq&c.mask]
	if !e.valid || e.seq != seq || int(e.n) > len(out) {
		return 0
	}
	return copy(out, e.buf[:e.n])
}

// LastKeyframe returns the sequence number of the first packet of the newest
// keyframe stored.
func (c *Cache) LastKeyframe() (seq uint16, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastKeyframe, c.hasKeyframe
}

// SeqLess reports whether a comes before b, modulo 2^16 (RFC 1982).
func SeqLess(a, b uint16) bool {
	return a != b && int16(b-a) > 0
}
