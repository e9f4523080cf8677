package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"atlas11/sfu"
)

// layerRIDs are the simulcast RIDs, lowest first, as the SFU names them.
func layerRIDs() [3]string { return [3]string{sfu.RIDLow, sfu.RIDMid, sfu.RIDHigh} }

// mediaSpec is what the expert sends.
type mediaSpec struct {
	bitrates    [3]int // bps per layer
	fps         int
	keyInterval time.Duration
	audioBytes  int // per 20 ms Opus packet
}

// publisher is the expert: three-layer VP8 simulcast plus Opus.
type publisher struct {
	spec  mediaSpec
	ep    epoch
	sig   *sigConn
	mux   ice.UDPMux
	pc    *webrtc.PeerConnection
	video [3]*webrtc.TrackLocalStaticRTP
	audio *webrtc.TrackLocalStaticRTP

	midExt, ridExt uint8
	audioMidExt    uint8
	videoMid       string
	audioMid       string

	keyReq   [3]atomic.Bool
	plis     atomic.Int64 // keyframe requests received from the SFU
	packets  atomic.Int64
	keyCount atomic.Int64

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	answered  chan struct{}
}

func startPublisher(ctx context.Context, sigURL, token string, spec mediaSpec, ep epoch) (*publisher, error) {
	sig, joined, err := dialSignal(ctx, sigURL, token)
	if err != nil {
		return nil, fmt.Errorf("expert: %w", err)
	}
	if !joined.Publish {
		sig.close()
		return nil, errors.New("expert: the SFU does not let this participant publish")
	}
	p := &publisher{spec: spec, ep: ep, sig: sig, answered: make(chan struct{})}
	if err := p.setup(ctx); err != nil {
		p.close()
		return nil, fmt.Errorf("expert: %w", err)
	}
	return p, nil
}

func (p *publisher) setup(ctx context.Context) (err error) {
	p.mux, err = loopbackMux()
	if err != nil {
		return err
	}
	api, err := newPublisherAPI(p.mux)
	if err != nil {
		return err
	}
	p.pc, err = api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	for i, rid := range layerRIDs() {
		p.video[i], err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			"camera", "expert", webrtc.WithRTPStreamID(rid))
		if err != nil {
			return err
		}
	}
	vs, err := p.pc.AddTrack(p.video[0])
	if err != nil {
		return err
	}
	for _, t := range p.video[1:] {
		if err := vs.AddEncoding(t); err != nil {
			return err
		}
	}
	p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "expert")
	if err != nil {
		return err
	}
	as, err := p.pc.AddTrack(p.audio)
	if err != nil {
		return err
	}
	for i := range layerRIDs() {
		go p.readRTCP(vs, i)
	}
	go func() { // drain the audio sender's RTCP so the interceptors keep running
		for {
			if _, _, err := as.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			_ = p.sig.send(context.Background(), sfu.ClientMessage{Type: sfu.TypeCandidate, PC: sfu.PCPub, Candidate: &init})
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	go p.signalLoop()

	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	if err := p.sig.send(ctx, sfu.ClientMessage{Type: sfu.TypeOffer, PC: sfu.PCPub, SDP: offer.SDP}); err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case <-connected:
	case <-wait.Done():
		return fmt.Errorf("publisher connection not established: %w", wait.Err())
	}
	for _, e := range vs.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			p.midExt = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			p.ridExt = uint8(e.ID)
		}
	}
	for _, e := range as.GetParameters().HeaderExtensions {
		if e.URI == sdp.SDESMidURI {
			p.audioMidExt = uint8(e.ID)
		}
	}
	for _, tr := range p.pc.GetTransceivers() {
		switch tr.Sender() {
		case vs:
			p.videoMid = tr.Mid()
		case as:
			p.audioMid = tr.Mid()
		}
	}
	if p.midExt == 0 || p.ridExt == 0 || p.videoMid == "" {
		return errors.New("the SFU did not negotiate the MID and RID header extensions simulcast needs")
	}
	return nil
}

func (p *publisher) signalLoop() {
	for m := range p.sig.in {
		switch m.Type {
		case sfu.TypeAnswer:
			if m.PC != sfu.PCPub {
				continue
			}
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				continue
			}
			p.mu.Lock()
			p.remoteSet = true
			pend := p.pending
			p.pending = nil
			p.mu.Unlock()
			for _, c := range pend {
				_ = p.pc.AddICECandidate(c)
			}
		case sfu.TypeCandidate:
			if m.PC != sfu.PCPub || m.Candidate == nil {
				continue
			}
			p.mu.Lock()
			if !p.remoteSet {
				p.pending = append(p.pending, *m.Candidate)
				p.mu.Unlock()
				continue
			}
			p.mu.Unlock()
			_ = p.pc.AddICECandidate(*m.Candidate)
		}
	}
}

// readRTCP turns the SFU's PLIs and FIRs for one layer into keyframes.
func (p *publisher) readRTCP(s *webrtc.RTPSender, layer int) {
	for {
		pkts, _, err := s.ReadSimulcastRTCP(layerRIDs()[layer])
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
				p.keyReq[layer].Store(true)
			}
		}
	}
}

// run sends media until ctx ends: every layer at spec.fps, Opus every 20 ms.
// Frames go out back to back like an encoder's output; keyframes every
// keyInterval and whenever the SFU asks.
func (p *publisher) run(ctx context.Context) {
	type layerState struct {
		seq        uint16
		ts         uint32
		pictureID  uint16
		lastKey    time.Time
		frameBytes int
	}
	var ls [3]layerState
	for i := range ls {
		ls[i] = layerState{seq: uint16(rand.Uint32()), ts: rand.Uint32(), pictureID: uint16(rand.Uint32() & 0x7fff),
			frameBytes: p.spec.bitrates[i] / 8 / p.spec.fps}
	}
	aSeq, aTS := uint16(rand.Uint32()), rand.Uint32()
	frameDur := time.Second / time.Duration(p.spec.fps)
	const audioDur = 20 * time.Millisecond
	start := time.Now()
	nextVideo, nextAudio := start, start
	var frame, aFrame uint32
	var bufs [][]byte
	pkt := &rtp.Packet{}
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(nextAudio) {
			pkt.Header = rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: aSeq, Timestamp: aTS}
			if p.audioMid != "" && p.audioMidExt != 0 {
				_ = pkt.Header.SetExtension(p.audioMidExt, []byte(p.audioMid))
			}
			pkt.Payload = opusPacket(p.spec.audioBytes, aFrame, p.ep.now())
			if p.audio.WriteRTP(pkt) == nil {
				p.packets.Add(1)
			}
			aSeq++
			aTS += 960
			aFrame++
			nextAudio = nextAudio.Add(audioDur)
		}
		if !now.Before(nextVideo) {
			for i := range ls {
				l := &ls[i]
				key := p.keyReq[i].Swap(false) || now.Sub(l.lastKey) >= p.spec.keyInterval
				size := l.frameBytes
				if key {
					l.lastKey = now
					size *= 3
					p.keyCount.Add(1)
				}
				bufs = vp8Frame(bufs, size, key, l.pictureID, i, frame, p.ep.now(), 320<<i, 180<<i)
				for j, b := range bufs {
					pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: l.seq, Timestamp: l.ts, Marker: j == len(bufs)-1}
					_ = pkt.Header.SetExtension(p.midExt, []byte(p.videoMid))
					_ = pkt.Header.SetExtension(p.ridExt, []byte(layerRIDs()[i]))
					pkt.Payload = b
					stampTrailer(b, p.ep.now()) // at the write, not when the frame was cut
					if p.video[i].WriteRTP(pkt) == nil {
						p.packets.Add(1)
					}
					l.seq++
				}
				l.ts += uint32(90000 / p.spec.fps)
				l.pictureID = (l.pictureID + 1) & 0x7fff
			}
			frame++
			nextVideo = nextVideo.Add(frameDur)
		}
		wake := nextVideo
		if nextAudio.Before(wake) {
			wake = nextAudio
		}
		if d := time.Until(wake); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

func (p *publisher) close() {
	if p.sig != nil {
		p.sig.leave()
	}
	if p.pc != nil {
		_ = p.pc.Close()
	}
	if p.mux != nil {
		_ = p.mux.Close()
	}
}
