package main

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The clients negotiate what a browser offers the SFU: VP8 and Opus with the
// same feedback, MID/RID and transport-wide sequence number extensions.
// Without twcc the participant negotiates no transport-wide feedback (like a
// browser where it is off), so the SFU falls back to REMB or its initial
// estimate: that separates the forwarding cost from the estimator's choices.
func newMediaEngine(twcc bool) (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	audioFB := []webrtc.RTCPFeedback{{Type: "transport-cc"}}
	videoExt := []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI, sdp.TransportCCURI}
	audioExt := []string{sdp.SDESMidURI, sdp.TransportCCURI}
	if !twcc {
		fb = append(fb[:1], fb[2:]...)
		audioFB = nil
		videoExt, audioExt = videoExt[:3], audioExt[:1]
	}
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb,
		},
		PayloadType: 96,
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: audioFB,
		},
		PayloadType: 111,
	}
	if err := m.RegisterCodec(vp8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, ext := range videoExt {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	for _, ext := range audioExt {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loopbackMux is one client's own UDP socket, on 127.0.0.1 only (the load
// stays on loopback), with a large receive buffer: 49 receivers on a busy
// 2-core host must not lose packets in their own kernel buffers and blame
// the SFU for it.
func loopbackMux() (ice.UDPMux, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20) // capped by net.core.rmem_max
	_ = c.SetWriteBuffer(1 << 20)
	return webrtc.NewICEUDPMux(nil, c), nil
}

func settingEngine(mux ice.UDPMux) webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICEUDPMux(mux)
	return se
}

// newPublisherAPI is the expert's side: answers NACKs from its send history,
// sends sender reports and stamps transport-wide sequence numbers.
func newPublisherAPI(mux ice.UDPMux) (*webrtc.API, error) {
	m, err := newMediaEngine(true)
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	resp, err := nack.NewResponderInterceptor(nack.ResponderSize(1024))
	if err != nil {
		return nil, err
	}
	ir.Add(resp)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(sr)
	hx, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(hx)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(settingEngine(mux))), nil
}

// newSubscriberAPI is a participant's side, answering like a browser: NACKs for
// gaps, receiver reports and TWCC feedback. The shaper sits closest to the
// network so that NACK and TWCC see the capped link, as they would behind a
// real bottleneck.
func newSubscriberAPI(sh *shaper, mux ice.UDPMux, withTWCC bool) (*webrtc.API, error) {
	m, err := newMediaEngine(withTWCC)
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if sh != nil {
		ir.Add(sh)
	}
	if withTWCC {
		tw, err := twcc.NewSenderInterceptor(twcc.SendInterval(100 * time.Millisecond))
		if err != nil {
			return nil, err
		}
		ir.Add(tw)
	}
	// Like a browser: NACK video only, retry a lost packet a few times, then
	// leave it to a keyframe request.
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20*time.Millisecond),
		nack.GeneratorMaxNacksPerPacket(10),
		nack.GeneratorStreamsFilter(func(info *interceptor.StreamInfo) bool {
			return strings.HasPrefix(strings.ToLower(info.MimeType), "video/")
		}))
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(settingEngine(mux))), nil
}

// shaper emulates a bottleneck link of a given rate in front of one subscriber:
// packets are taken from the network as they arrive, leave the link at its
// rate (the queueing delay is what the SFU's delay-based estimator sees), and
// are tail-dropped once maxQueue of delay is queued. Rate 0 means no cap. It is
// an interceptor factory and the interceptor itself; only capped subscribers
// have one, so the others' path has no extra hop.
type shaper struct {
	interceptor.NoOp
	rateBps  atomic.Int64
	dropped  atomic.Int64
	maxQueue time.Duration

	mu   sync.Mutex
	next time.Time // when the virtual link is free again
}

func newShaper() *shaper { return &shaper{maxQueue: 200 * time.Millisecond} }

func (s *shaper) NewInterceptor(string) (interceptor.Interceptor, error) { return s, nil }

func (s *shaper) setRate(bps int64) { s.rateBps.Store(bps) }

type shapedPacket struct {
	b    []byte
	attr interceptor.Attributes
	due  time.Time
	err  error
}

// BindRemoteStream puts the link between the network and the other interceptors.
func (s *shaper) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	q := make(chan shapedPacket, 1024)
	ended := make(chan struct{}) // closed once the stream's reads fail; readErr says why
	var readErr error
	var once sync.Once
	pump := func() {
		defer close(ended)
		for {
			b := make([]byte, 1500)
			n, attr, err := r.Read(b, nil)
			if err != nil {
				readErr = err
				return
			}
			p := shapedPacket{b: b[:n], attr: attr}
			if rate := s.rateBps.Load(); rate > 0 {
				s.mu.Lock()
				now := time.Now()
				if s.next.Before(now) {
					s.next = now
				}
				if s.next.Sub(now) > s.maxQueue {
					s.mu.Unlock()
					s.dropped.Add(1)
					continue
				}
				s.next = s.next.Add(time.Duration(int64(n+28) * 8 * int64(time.Second) / rate)) // + IP/UDP headers
				p.due = s.next
				s.mu.Unlock()
			}
			select {
			case q <- p:
			default: // the application stopped reading: a full socket buffer drops
				s.dropped.Add(1)
			}
		}
	}
	return interceptor.RTPReaderFunc(func(b []byte, _ interceptor.Attributes) (int, interceptor.Attributes, error) {
		once.Do(func() { go pump() })
		var p shapedPacket
		select {
		case p = <-q:
		case <-ended:
			select { // what was queued before the end is still delivered
			case p = <-q:
			default:
				return 0, nil, readErr
			}
		}
		if d := time.Until(p.due); d > 0 {
			time.Sleep(d)
		}
		return copy(b, p.b), p.attr, nil
	})
}
