package sfu

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"atlas11/sfu/packetcache"
)

var errTooLarge = errors.New("sfu: packet too large for the media socket")

// subOut is what one subscriber's tracks share on the way out: the
// connection's transport-wide sequence numbers and bandwidth estimator, and,
// for the direct path, the SRTP keys and the peer's address on the media
// socket.
type subOut struct {
	est     *bwe
	twccSeq atomic.Uint32
	conn    *batchConn                     // the shared media socket; nil: pion's path only
	keys    atomic.Pointer[srtpKeys]       // the SFU's sending keys, once DTLS is done
	peer    atomic.Pointer[netip.AddrPort] // the selected pair's remote address, over UDP
}

// directOut is one track's own SRTP writer: its context (one per SSRC, so
// tracks fed by different publisher goroutines share no state) and buffers.
type directOut struct {
	ctx   *srtp.Context
	hdr   rtp.Header
	plain [packetcache.BufSize]byte
	enc   [packetcache.BufSize + 64]byte
}

// writeDirect encrypts one packet and writes it to the peer's address on the
// media socket, in the current batch; ok false means the direct path is not
// ready (no keys, no UDP path) and pion's writer must be used.
func (d *downTrack) writeDirect(h *rtp.Header, payload []byte) (n int, ok bool, err error) {
	o := d.sub
	if o == nil || o.conn == nil {
		return 0, false, nil
	}
	peer := o.peer.Load()
	if peer == nil {
		return 0, false, nil
	}
	if d.srtp == nil {
		d.srtp = &directOut{}
	}
	w := d.srtp
	if contextOnce(&w.ctx, &o.keys) == nil {
		return 0, false, nil
	}
	hn, err := h.MarshalTo(w.plain[:])
	if err != nil || hn+len(payload) > len(w.plain) {
		return 0, true, errTooLarge
	}
	copy(w.plain[hn:], payload)
	enc, err := w.ctx.EncryptRTP(w.enc[:0], w.plain[:hn+len(payload)], &w.hdr)
	if err != nil {
		return 0, true, err
	}
	n, err = o.conn.WriteToAddrPort(enc, *peer)
	return n, true, err
}

// stampTWCC gives the packet the connection's next transport-wide sequence
// number, when the track negotiated the extension.
func (d *downTrack) stampTWCC(h *rtp.Header) (seq uint16, ok bool) {
	if d.twccID == 0 || d.sub == nil || d.sub.est == nil {
		return 0, false
	}
	seq = uint16(d.sub.twccSeq.Add(1) - 1) //nolint:gosec // wraps by design
	binary.BigEndian.PutUint16(d.twccBuf[:], seq)
	if h.SetExtension(d.twccID, d.twccBuf[:]) != nil {
		return 0, false
	}
	return seq, true
}

// senderReport describes what the track sent so far (RFC 3550 6.4.1), or
// false before the first packet. The RTP time is extrapolated from the last
// packet sent to now.
func (d *downTrack) senderReport(now time.Time) (*rtcp.SenderReport, bool) {
	pkts, octets := d.sentPkts.Load(), d.sentOctets.Load()
	d.mu.Lock()
	ssrc, started, clock, ts, at := d.ssrc, d.started, d.clockRate, d.lastOutTS, d.lastOutAt
	d.mu.Unlock()
	if !started || pkts == 0 || ssrc == 0 {
		return nil, false
	}
	rtpTime := ts
	if el := now.UnixNano() - at; el > 0 && clock > 0 {
		rtpTime += uint32(uint64(el) * uint64(clock) / 1e9) //nolint:gosec // RTP time wraps
	}
	return &rtcp.SenderReport{
		SSRC: ssrc, NTPTime: ntpTime(now), RTPTime: rtpTime,
		PacketCount: uint32(pkts), OctetCount: uint32(octets), //nolint:gosec // the counters wrap (RFC 3550)
	}, true
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900, 32.32).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2_208_988_800
	ns := t.UnixNano()
	secs := uint64(ns/1e9) + ntpEpochOffset //nolint:gosec // after 1970
	frac := uint64(ns%1e9) << 32 / 1e9      //nolint:gosec // non-negative
	return secs<<32 | frac
}

// reportInterval is how often each subscriber connection gets sender reports.
const reportInterval = time.Second

// sendReports writes one compound sender report for the subscriber's tracks,
// at most once per reportInterval. Called by the room's ticker.
func (sess *session) sendReports(now time.Time) {
	if now.Sub(sess.lastReport) < reportInterval {
		return
	}
	sess.lastReport = now
	sess.mu.Lock()
	sub := sess.sub
	pkts := make([]rtcp.Packet, 0, len(sess.downs))
	for _, st := range sess.downs {
		if sr, ok := st.d.senderReport(now); ok {
			pkts = append(pkts, sr)
		}
	}
	sess.mu.Unlock()
	if sub != nil && len(pkts) > 0 {
		_ = sub.WriteRTCP(pkts)
	}
}
