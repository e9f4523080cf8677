package sfu

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
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

// apis holds what the server's pion connections are made from. pion runs no
// interceptor on them. For publishers' connections the SFU runs the receiving
// ones itself, on whichever path brings a packet (ingress.go): pion's NACK
// generator and receiver reports, and its own TWCC feedback (twccfb.go). For
// subscribers' connections (the SFU sends) the SFU stamps transport-wide
// sequence numbers, estimates bandwidth (bwe.go), answers NACKs from its
// packet caches and writes sender reports itself (direct.go), and over UDP
// encrypts and sends the media too.
type apis struct {
	se           webrtc.SettingEngine
	pubME, subME *webrtc.MediaEngine
	pubIR        *interceptor.Registry // run by the SFU itself (ingress.go), not by pion
}

func newAPIs(se webrtc.SettingEngine, lf logging.LoggerFactory) (*apis, error) {
	a := &apis{se: se}

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
	pubIR.Add(twccFeedbackFactory{})
	a.pubME, a.pubIR = pubME, pubIR

	if a.subME, err = newMediaEngine(); err != nil {
		return nil, err
	}
	return a, nil
}

// newPublisherPC creates a publisher connection, with its key tap, and the
// receiving interceptors the SFU runs for it. The SFU answers the client's
// offer as the DTLS server, so the tap learns the keys.
func (a *apis) newPublisherPC() (*webrtc.PeerConnection, *keyTap, interceptor.Interceptor, error) {
	tap := &keyTap{}
	se := tap.settingEngine(a.se)
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, nil, nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(a.pubME),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, nil, err
	}
	ic, err := a.pubIR.Build("pub")
	if err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	ic.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		return 0, pc.WriteRTCP(pkts)
	}))
	return pc, tap, ic, nil
}

// newSubscriberPC creates a subscriber connection with its own key tap: the
// tap's hooks live in the setting engine, so each connection gets its own API
// (the media engine is copied per connection anyway).
func (a *apis) newSubscriberPC() (*webrtc.PeerConnection, *keyTap, error) {
	tap := &keyTap{}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(a.subME),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
		webrtc.WithSettingEngine(tap.settingEngine(a.se)))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	return pc, tap, nil
}
