package main

// seqTracker counts what arrived of one egress RTP stream, by extended
// sequence number, so loss is measured after NACK retransmissions filled gaps.
type seqTracker struct {
	started  bool
	base     int64
	highest  int64
	bits     []uint64
	received int64
	checked  int64 // holes before this extended number were already reported
}

// maxTracked bounds the memory of one tracker (about 1 h of video at 250 pps).
const maxTracked = 1 << 20

// add records seq and reports whether it is new and in order (not a
// retransmission, a reordered or a duplicate packet).
func (t *seqTracker) add(seq uint16) bool {
	if !t.started {
		t.started, t.base, t.highest, t.checked = true, int64(seq), int64(seq), int64(seq)
		t.set(0)
		return true
	}
	ext := t.highest + int64(int16(seq-uint16(t.highest)))
	idx := ext - t.base
	if idx < 0 || idx >= maxTracked || !t.set(idx) {
		return false
	}
	if ext > t.highest {
		t.highest = ext
		return true
	}
	return false
}

// set marks idx and reports whether it was not marked before.
func (t *seqTracker) set(idx int64) bool {
	w := int(idx / 64)
	for len(t.bits) <= w {
		t.bits = append(t.bits, 0)
	}
	m := uint64(1) << (idx % 64)
	if t.bits[w]&m != 0 {
		return false
	}
	t.bits[w] |= m
	t.received++
	return true
}

func (t *seqTracker) has(ext int64) bool {
	idx := ext - t.base
	w := int(idx / 64)
	return idx >= 0 && w < len(t.bits) && t.bits[w]&(uint64(1)<<(idx%64)) != 0
}

// counts returns the packets expected (first to highest) and received.
func (t *seqTracker) counts() (expected, received int64) {
	if !t.started {
		return 0, 0
	}
	return t.highest - t.base + 1, t.received
}

// newHoles counts packets still missing more than lag packets behind the
// highest, each reported once: what a decoder gives up on.
func (t *seqTracker) newHoles(lag int64) int {
	if !t.started {
		return 0
	}
	n := 0
	end := t.highest - lag
	for ; t.checked <= end; t.checked++ {
		if !t.has(t.checked) {
			n++
		}
	}
	return n
}
