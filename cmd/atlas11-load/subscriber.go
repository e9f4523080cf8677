package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"atlas11/sfu"
)

// latSample is one packet's one-way latency, publisher write to subscriber read.
type latSample struct {
	at  int64 // epoch ns of receipt
	lat int32 // microseconds
}

type layerChange struct {
	at    int64 // epoch ns
	layer int
}

// maxLatSamples bounds one subscriber's latency record.
const maxLatSamples = 1 << 19

// subStats is what one participant observed, across all its sessions.
type subStats struct {
	mu sync.Mutex
	// closed sessions
	expected, received int64
	// current session
	video, audio seqTracker
	joinAt       int64
	firstFrameAt int64
	keyStart     uint32
	haveKeyStart bool
	liveFrom     int64
	cur          int
	firstVideoAt int64
	needKey      bool
	lastPLI      int64
	videoSSRC    webrtc.SSRC
	// whole run
	lat          []latSample
	layers       []layerChange
	switches     int
	firstFrames  []float64 // ms from join to the first complete keyframe
	plisSent     int
	resumedAt    int64
	recoveredAt  int64
	lastVideoNs  atomic.Int64
	videoPackets atomic.Int64
}

// subscriber is one participant answering like a browser.
type subscriber struct {
	idx  int
	name string
	ep   epoch
	sh   *shaper
	st   subStats

	paused atomic.Bool // stall: the application stops reading media
	// onLayer, when set, hears each change of the video layer received.
	onLayer func(layer int)
	noTWCC  bool // negotiate no transport-wide congestion control feedback

	mu        sync.Mutex
	sig       *sigConn
	pc        *webrtc.PeerConnection
	mux       ice.UDPMux
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	done      chan struct{}
}

// newSubscriber makes participant idx; a capped one gets a link shaper.
func newSubscriber(idx int, ep epoch, capped bool) *subscriber {
	s := &subscriber{idx: idx, name: fmt.Sprintf("participant-%02d", idx), ep: ep}
	if capped {
		s.sh = newShaper()
	}
	return s
}

// join opens a session: signaling, then a receiving connection on the SFU's offer.
func (s *subscriber) join(ctx context.Context, sigURL, token string) error {
	s.st.mu.Lock()
	s.st.video, s.st.audio = seqTracker{}, seqTracker{}
	s.st.joinAt = s.ep.now()
	s.st.firstFrameAt, s.st.haveKeyStart, s.st.liveFrom, s.st.cur, s.st.firstVideoAt = 0, false, 0, -1, 0
	s.st.needKey, s.st.lastPLI, s.st.videoSSRC = true, 0, 0
	s.st.mu.Unlock()

	mux, err := loopbackMux()
	if err != nil {
		return err
	}
	api, err := newSubscriberAPI(s.sh, mux, !s.noTWCC)
	if err != nil {
		_ = mux.Close()
		return err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		_ = mux.Close()
		return err
	}
	sig, _, err := dialSignal(ctx, sigURL, token)
	if err != nil {
		_ = pc.Close()
		_ = mux.Close()
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.mu.Lock()
	s.sig, s.pc, s.mux, s.remoteSet, s.pending, s.done = sig, pc, mux, false, nil, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			_ = sig.send(context.Background(), sfu.ClientMessage{Type: sfu.TypeCandidate, PC: sfu.PCSub, Candidate: &init})
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go s.readTrack(t, done) })
	go s.signalLoop(sig, pc)
	go s.feedbackLoop(pc, done)
	return nil
}

func (s *subscriber) signalLoop(sig *sigConn, pc *webrtc.PeerConnection) {
	for m := range sig.in {
		switch m.Type {
		case sfu.TypeOffer:
			if m.PC != sfu.PCSub {
				continue
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
				continue
			}
			ans, err := pc.CreateAnswer(nil)
			if err != nil {
				continue
			}
			if err := pc.SetLocalDescription(ans); err != nil {
				continue
			}
			_ = sig.send(context.Background(), sfu.ClientMessage{Type: sfu.TypeAnswer, PC: sfu.PCSub, SDP: ans.SDP})
			s.mu.Lock()
			s.remoteSet = true
			pend := s.pending
			s.pending = nil
			s.mu.Unlock()
			for _, c := range pend {
				_ = pc.AddICECandidate(c)
			}
		case sfu.TypeCandidate:
			if m.PC != sfu.PCSub || m.Candidate == nil {
				continue
			}
			s.mu.Lock()
			if !s.remoteSet {
				s.pending = append(s.pending, *m.Candidate)
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			_ = pc.AddICECandidate(*m.Candidate)
		}
	}
}

func (s *subscriber) readTrack(t *webrtc.TrackRemote, done chan struct{}) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	if video {
		s.st.mu.Lock()
		s.st.videoSSRC = t.SSRC()
		s.st.mu.Unlock()
	}
	buf := make([]byte, 1600)
	var h rtp.Header
	for {
		for s.paused.Load() {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		hn, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		payload := buf[hn:n]
		if h.Padding && len(payload) > 0 {
			pad := int(payload[len(payload)-1])
			if pad > len(payload) {
				continue
			}
			payload = payload[:len(payload)-pad]
		}
		tr, ok := readTrailer(payload)
		s.onPacket(video, h.SequenceNumber, tr, ok, s.ep.now())
	}
}

func (s *subscriber) onPacket(video bool, seq uint16, tr trailer, ok bool, now int64) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var fresh bool
	if video {
		fresh = st.video.add(seq)
		st.lastVideoNs.Store(now)
		st.videoPackets.Add(1)
		if st.firstVideoAt == 0 {
			st.firstVideoAt = now
		}
	} else {
		fresh = st.audio.add(seq)
	}
	if !ok {
		return
	}
	if video {
		if tr.layer != st.cur {
			if st.cur >= 0 {
				st.switches++
			}
			st.cur = tr.layer
			st.layers = append(st.layers, layerChange{at: now, layer: tr.layer})
			if s.onLayer != nil {
				go s.onLayer(tr.layer) // never under the stats lock
			}
		}
		keyStart := tr.flags&flagKey != 0 && tr.flags&flagFirst != 0
		if keyStart {
			st.needKey = false
			if st.firstFrameAt == 0 {
				st.keyStart, st.haveKeyStart = tr.frame, true
			}
			if st.resumedAt != 0 && st.recoveredAt == 0 && now-tr.sentNs < int64(100*time.Millisecond) {
				st.recoveredAt = now
			}
		}
		if st.firstFrameAt == 0 && st.haveKeyStart && tr.frame == st.keyStart && tr.flags&flagLast != 0 {
			st.firstFrameAt = now
			st.firstFrames = append(st.firstFrames, float64(now-st.joinAt)/1e6)
			st.liveFrom = now + int64(time.Second) // replayed packets from the cache are not live
		}
	}
	if fresh && st.liveFrom != 0 && now >= st.liveFrom && len(st.lat) < maxLatSamples {
		st.lat = append(st.lat, latSample{at: now, lat: int32((now - tr.sentNs) / 1000)})
	}
}

// feedbackLoop sends PLIs like a browser's decoder: when no keyframe came yet
// or a gap was never repaired by NACK, at most once a second.
func (s *subscriber) feedbackLoop(pc *webrtc.PeerConnection, done chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if s.paused.Load() {
			continue
		}
		now := s.ep.now()
		st := &s.st
		st.mu.Lock()
		if st.video.newHoles(60) > 0 {
			st.needKey = true
		}
		send := st.needKey && st.videoSSRC != 0 && st.firstVideoAt != 0 &&
			now-st.firstVideoAt > int64(500*time.Millisecond) && now-st.lastPLI > int64(time.Second)
		ssrc := st.videoSSRC
		if send {
			st.lastPLI = now
			st.plisSent++
		}
		st.mu.Unlock()
		if send {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
		}
	}
}

// firstFrame waits for this session's first complete keyframe.
func (s *subscriber) firstFrame(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.st.mu.Lock()
		got := s.st.firstFrameAt != 0
		s.st.mu.Unlock()
		if got {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// stall stops reading media for d, then resumes.
func (s *subscriber) stall(ctx context.Context, d time.Duration) {
	s.paused.Store(true)
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	s.st.mu.Lock()
	s.st.resumedAt = s.ep.now()
	s.st.mu.Unlock()
	s.paused.Store(false)
}

// leave ends the current session and folds its counts into the totals.
func (s *subscriber) leave() {
	s.mu.Lock()
	sig, pc, mux, done := s.sig, s.pc, s.mux, s.done
	s.sig, s.pc, s.mux, s.done = nil, nil, nil, nil
	s.mu.Unlock()
	if mux != nil {
		defer mux.Close()
	}
	if done != nil {
		close(done)
	}
	if sig != nil {
		sig.leave()
	}
	if pc != nil {
		_ = pc.Close()
	}
	st := &s.st
	st.mu.Lock()
	for _, t := range []*seqTracker{&st.video, &st.audio} {
		e, r := t.counts()
		st.expected += e
		st.received += r
		*t = seqTracker{}
	}
	st.mu.Unlock()
}
