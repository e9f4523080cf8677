package main

import (
	"encoding/binary"
	"time"
)

// Synthetic media. Every RTP payload ends with a 16-byte trailer the subscribers
// read back: which layer it came from, frame boundaries and keyframes, and when
// the publisher sent it. The SFU forwards payloads untouched, so the trailer
// survives layer switches and sequence-number rewriting.
const (
	trailerLen   = 16
	trailerMagic = 0xA711

	layerAudio = 3 // trailer layer value for Opus packets

	flagKey   = 1 << 0 // part of a keyframe
	flagFirst = 1 << 1 // first packet of a frame
	flagLast  = 1 << 2 // last packet of a frame

	maxPayload = 1100 // bytes of RTP payload per packet, like a browser's packetizer
)

// trailer is the decoded end of a payload.
type trailer struct {
	layer  int
	flags  byte
	sentNs int64 // nanoseconds since the run's epoch
	frame  uint32
}

func putTrailer(p []byte, t trailer) {
	b := p[len(p)-trailerLen:]
	binary.BigEndian.PutUint16(b[0:], trailerMagic)
	b[2] = byte(t.layer)
	b[3] = t.flags
	binary.BigEndian.PutUint64(b[4:], uint64(t.sentNs))
	binary.BigEndian.PutUint32(b[12:], t.frame)
}

// stampTrailer rewrites the send time of a payload built by vp8Frame.
func stampTrailer(p []byte, sentNs int64) {
	binary.BigEndian.PutUint64(p[len(p)-trailerLen+4:], uint64(sentNs))
}

func readTrailer(p []byte) (trailer, bool) {
	if len(p) < trailerLen {
		return trailer{}, false
	}
	b := p[len(p)-trailerLen:]
	if binary.BigEndian.Uint16(b[0:]) != trailerMagic || b[2] > layerAudio {
		return trailer{}, false
	}
	return trailer{layer: int(b[2]), flags: b[3], sentNs: int64(binary.BigEndian.Uint64(b[4:])), frame: binary.BigEndian.Uint32(b[12:])}, true
}

// epoch is the run's time origin: one monotonic reading shared by the publisher
// and the subscribers of this process, so one-way latency needs no clock sync.
type epoch struct{ t0 time.Time }

func newEpoch() epoch                 { return epoch{t0: time.Now()} }
func (e epoch) now() int64            { return int64(time.Since(e.t0)) }
func (e epoch) at(ns int64) time.Time { return e.t0.Add(time.Duration(ns)) }

// vp8Frame splits one synthetic VP8 frame of size bytes into RTP payloads with
// correct VP8 payload descriptors (RFC 7741: X and I bits, 15-bit picture ID, S
// bit on the first packet) and, on the first packet, a VP8 frame tag whose P bit
// says keyframe or not (plus the keyframe start code and dimensions). The SFU's
// keyframe detection reads exactly these bits.
func vp8Frame(dst [][]byte, size int, key bool, pictureID uint16, layer int, frame uint32, sentNs int64, w, h uint16) [][]byte {
	const descLen = 4
	dst = dst[:0]
	remaining := size
	first := true
	for remaining > 0 || first {
		body := maxPayload - descLen - trailerLen
		if first {
			body -= 10
		}
		if remaining < body {
			body = remaining
		}
		if body < 0 {
			body = 0
		}
		hdr := 0
		if first {
			hdr = 3
			if key {
				hdr = 10
			}
		}
		p := make([]byte, descLen+hdr+body+trailerLen)
		p[0] = 0x80 // X
		if first {
			p[0] |= 0x10 // S, partition 0
		}
		p[1] = 0x80 // I: picture ID present
		p[2] = 0x80 | byte(pictureID>>8)&0x7f
		p[3] = byte(pictureID)
		if first {
			tag := byte(0x10) // show_frame, version 0
			if !key {
				tag |= 0x01 // P: interframe
			}
			p[4] = tag
			if key {
				copy(p[7:], []byte{0x9d, 0x01, 0x2a})
				binary.LittleEndian.PutUint16(p[10:], w)
				binary.LittleEndian.PutUint16(p[12:], h)
			}
		}
		for i := descLen + hdr; i < len(p)-trailerLen; i++ {
			p[i] = byte(i)
		}
		remaining -= body
		var flags byte
		if key {
			flags |= flagKey
		}
		if first {
			flags |= flagFirst
		}
		if remaining <= 0 {
			flags |= flagLast
		}
		putTrailer(p, trailer{layer: layer, flags: flags, sentNs: sentNs, frame: frame})
		dst = append(dst, p)
		first = false
	}
	return dst
}

// opusPacket is one 20 ms synthetic Opus packet of size bytes.
func opusPacket(size int, frame uint32, sentNs int64) []byte {
	if size < trailerLen+1 {
		size = trailerLen + 1
	}
	p := make([]byte, size)
	p[0] = 0x78 // TOC: CELT-only fullband 20 ms, one frame
	for i := 1; i < size-trailerLen; i++ {
		p[i] = byte(i * 7)
	}
	putTrailer(p, trailer{layer: layerAudio, flags: flagFirst | flagLast, sentNs: sentNs, frame: frame})
	return p
}
