package sfu

import (
	"encoding/binary"
	"sync"

	"atlas11/sfu/packetcache"
)

// rtpHeader holds the fields the forwarding path needs. It is parsed by hand
// because rtp.Header.Unmarshal allocates for CSRCs and extensions.
type rtpHeader struct {
	marker      bool
	payloadType uint8
	seq         uint16
	ts          uint32
	ssrc        uint32
}

// parseRTP validates an RTP packet and returns its header and payload (without
// padding). ok is false for anything that is not a well-formed RTP packet.
func parseRTP(b []byte) (h rtpHeader, payload []byte, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, nil, false
	}
	h.marker = b[1]&0x80 != 0
	h.payloadType = b[1] & 0x7f
	if h.payloadType >= 72 && h.payloadType <= 76 { // RTCP packet types 200-204
		return h, nil, false
	}
	h.seq = binary.BigEndian.Uint16(b[2:])
	h.ts = binary.BigEndian.Uint32(b[4:])
	h.ssrc = binary.BigEndian.Uint32(b[8:])
	off := 12 + 4*int(b[0]&0x0f)
	if off > len(b) {
		return h, nil, false
	}
	if b[0]&0x10 != 0 { // header extension
		if off+4 > len(b) {
			return h, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if off > len(b) {
			return h, nil, false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return h, nil, false
		}
		end -= pad
	}
	return h, b[off:end], true
}

// vp8KeyframeStart reports whether a VP8 RTP payload (RFC 7741) is the first
// packet of a keyframe.
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	// S bit set and partition index 0: start of a frame.
	if p[0]&0x10 == 0 || p[0]&0x0f != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extended control bits
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	// VP8 payload header: P bit 0 means a key frame.
	return p[i]&0x01 == 0
}

// slot is one queued egress packet, held inline so queuing allocates nothing.
type slot struct {
	seq     uint16
	ts      uint32
	marker  bool
	n       uint16
	arrival int64 // monotonic nanoseconds when the packet entered the SFU
	buf     [packetcache.BufSize]byte
}

// queue is a bounded FIFO between the publisher's reader and whoever writes one
// subscriber track (the reader itself, or an egress worker). push never blocks:
// a full queue refuses the packet.
type queue struct {
	mu     sync.Mutex
	slots  []slot
	head   int
	count  int
	closed bool
}

func newQueue(size int) *queue {
	if size < 4 {
		size = 4
	}
	return &queue{slots: make([]slot, size)}
}

func (q *queue) push(seq uint16, ts uint32, marker bool, payload []byte, arrival int64) bool {
	if len(payload) > packetcache.BufSize {
		return false
	}
	q.mu.Lock()
	if q.closed || q.count == len(q.slots) {
		q.mu.Unlock()
		return false
	}
	s := &q.slots[(q.head+q.count)%len(q.slots)]
	s.seq, s.ts, s.marker, s.arrival = seq, ts, marker, arrival
	s.n = uint16(copy(s.buf[:], payload))
	q.count++
	q.mu.Unlock()
	return true
}

// pop copies the oldest packet into dst.
func (q *queue) pop(dst *slot) bool {
	q.mu.Lock()
	if q.count == 0 {
		q.mu.Unlock()
		return false
	}
	s := &q.slots[q.head]
	dst.seq, dst.ts, dst.marker, dst.arrival, dst.n = s.seq, s.ts, s.marker, s.arrival, s.n
	copy(dst.buf[:s.n], s.buf[:s.n])
	q.head = (q.head + 1) % len(q.slots)
	q.count--
	q.mu.Unlock()
	return true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.count = 0
	q.mu.Unlock()
}

// clear drops every queued packet.
func (q *queue) clear() {
	q.mu.Lock()
	q.head, q.count = 0, 0
	q.mu.Unlock()
}
