package sfu

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

const twccURI = sdp.TransportCCURI

// Codecs the SFU accepts and forwards: VP8 video, Opus audio.
func vp8Codec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{
				{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
				{Type: "nack"}, {Type: "nack", Parameter: "pli"},
			},
		},
		PayloadType: 96,
	}
}

func opusCodec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}},
		},
		PayloadType: 111,
	}
}

func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(vp8Codec(), webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(opusCodec(), webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, ext := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI, twccURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	for _, ext := range []string{sdp.SDESMidURI, twccURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// apis holds the two per-server pion APIs: publishers' connections (the SFU
// receives: NACK generation, receiver reports, TWCC feedback) and subscribers'
// connections (the SFU sends: sender reports, TWCC sequence numbers and the
// SFU's own estimator, bwe.go; NACKs are answered by the SFU's own packet caches).
type apis struct {
	pub, sub *webrtc.API

	ccMu sync.Mutex // serializes subscriber PC creation to pair it with its estimator
	ccCh chan cc.BandwidthEstimator
}

func newAPIs(se webrtc.SettingEngine, lf logging.LoggerFactory, initialBitrate, maxBitrate int) (*apis, error) {
	a := &apis{ccCh: make(chan cc.BandwidthEstimator, 1)}

	pubME, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	pubIR := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
	if err != nil {
		return nil, err
	}
	pubIR.Add(gen)
	rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(lf))
	if err != nil {
		return nil, err
	}
	pubIR.Add(rr)
	tw, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(lf))
	if err != nil {
		return nil, err
	}
	pubIR.Add(tw)
	a.pub = webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubIR), webrtc.WithSettingEngine(se))

	subME, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	subIR := &interceptor.Registry{}
	sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(lf))
	if err != nil {
		return nil, err
	}
	subIR.Add(sr)
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return newBWE(int64(initialBitrate), 50_000, int64(maxBitrate), nil), nil
	})
	if err != nil {
		return nil, err
	}
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
		select {
		case a.ccCh <- e:
		default:
		}
	})
	subIR.Add(twccOnly{ccf})
	// Added after the estimator so it runs first on the way out: the estimator
	// reads the transport-wide sequence number this one stamps.
	hx, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	subIR.Add(hx)
	a.sub = webrtc.NewAPI(webrtc.WithMediaEngine(subME), webrtc.WithInterceptorRegistry(subIR), webrtc.WithSettingEngine(se))
	return a, nil
}

// newSubscriberPC creates a subscriber connection and its bandwidth estimator.
func (a *apis) newSubscriberPC() (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	a.ccMu.Lock()
	defer a.ccMu.Unlock()
	select { // a leftover from a failed creation
	case <-a.ccCh:
	default:
	}
	pc, err := a.sub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	var est cc.BandwidthEstimator
	select {
	case est = <-a.ccCh:
	default:
	}
	return pc, est, nil
}

// twccOnly keeps the congestion controller off streams that did not negotiate
// TWCC, whatever estimator it wraps (pion's GCC recorded every packet sent for
// an RFC 8888 feedback our subscribers never send, about 7 % of the server's
// CPU; bwe.AddStream passes such streams through too). Such subscribers are
// estimated from REMB.
type twccOnly struct{ f interceptor.Factory }

func (t twccOnly) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := t.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return twccOnlyInterceptor{i}, nil
}

type twccOnlyInterceptor struct{ interceptor.Interceptor }

func (t twccOnlyInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !hasTWCC(info) {
		return w
	}
	return t.Interceptor.BindLocalStream(info, w)
}

func (t twccOnlyInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	if hasTWCC(info) {
		t.Interceptor.UnbindLocalStream(info)
	}
}

func hasTWCC(info *interceptor.StreamInfo) bool {
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == twccURI {
			return true
		}
	}
	return false
}
