package main

import (
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
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{
				{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
				{Type: "nack"}, {Type: "nack", Parameter: "pli"},
			},
		},
		PayloadType: 96,
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}},
		},
		PayloadType: 111,
	}
	if err := m.RegisterCodec(vp8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, ext := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI, sdp.TransportCCURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	for _, ext := range []string{sdp.SDESMidURI, sdp.TransportCCURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func settingEngine() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// newPublisherAPI is the expert's side: answers NACKs from its send history,
// sends sender reports and stamps transport-wide sequence numbers.
func newPublisherAPI() (*webrtc.API, error) {
	m, err := newMediaEngine()
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
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(settingEngine())), nil
}

// newSubscriberAPI is a participant's side, answering like a browser: NACKs for
// gaps, receiver reports and TWCC feedback. The shaper sits closest to the
// network so that NACK and TWCC see the capped link, as they would behind a
// real bottleneck.
func newSubscriberAPI(sh *shaper) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	ir.Add(sh)
	tw, err := twcc.NewSenderInterceptor(twcc.SendInterval(50 * time.Millisecond))
	if err != nil {
		return nil, err
	}
	ir.Add(tw)
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20 * time.Millisecond))
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(settingEngine())), nil
}

// shaper emulates a bottleneck link of a given rate in front of one subscriber:
// a token bucket feeding a queue of at most maxQueue of delay, tail-dropping
// beyond it. Delay grows before loss does, which is what the SFU's delay-based
// estimator reacts to. Rate 0 means no cap. It is an interceptor factory and
// the interceptor itself; each subscriber API has its own.
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

// BindRemoteStream delays or drops incoming packets to fit the link rate.
func (s *shaper) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			rate := s.rateBps.Load()
			if rate <= 0 {
				return n, attr, nil
			}
			wire := int64(n+28) * 8 // IP and UDP headers
			s.mu.Lock()
			now := time.Now()
			if s.next.Before(now) {
				s.next = now
			}
			wait := s.next.Sub(now)
			if wait > s.maxQueue {
				s.mu.Unlock()
				s.dropped.Add(1)
				continue
			}
			s.next = s.next.Add(time.Duration(wire * int64(time.Second) / rate))
			s.mu.Unlock()
			if wait > 0 {
				time.Sleep(wait)
			}
			return n, attr, nil
		}
	})
}
