package sfu

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// newSub creates the receiving ("sub") connection; the server offers on it.
func (sess *session) newSub() error {
	pc, tap, err := sess.s.apis.newSubscriberPC()
	if err != nil {
		return err
	}
	out := &subOut{
		est:  newBWE(int64(sess.s.cfg.InitialBitrate), 50_000, int64(sess.s.cfg.MaxBitrate), nil),
		conn: sess.s.eg.conn,
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		sess.subGate.add(sess, PCSub, c.ToJSON())
	})
	in := &subIn{sess: sess}
	sess.watchPath(pc, tap, &in.keys, in, &sess.subAddr, out)
	sess.mu.Lock()
	sess.sub, sess.egress = pc, out
	sess.mu.Unlock()
	return nil
}

// watchPath follows a connection's selected path and DTLS keys: over UDP, with
// keys, the media socket's reader reads the peer's packets itself (ingress.go).
// For a subscriber connection (out set) it also keeps the direct egress's
// peer address and keys (direct.go).
func (sess *session) watchPath(pc *webrtc.PeerConnection, tap *keyTap, remote *atomic.Pointer[srtpKeys], in inPeer,
	addr *netip.AddrPort, out *subOut) {
	dt := pc.SCTP().Transport()
	dt.ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		udp := p != nil && p.Local != nil && p.Remote != nil && p.Local.Protocol == webrtc.ICEProtocolUDP
		var peer *netip.AddrPort
		if udp {
			if a, err := netip.ParseAddr(p.Remote.Address); err == nil {
				ap := netip.AddrPortFrom(a, p.Remote.Port)
				peer = &ap
			}
		}
		if out != nil {
			out.peer.Store(peer)
			// Only a UDP path may be written on the publisher's goroutine: an
			// ICE-TCP write can block on a stalled peer.
			sess.udpOut.Store(udp)
		}
		sess.routeMu.Lock()
		defer sess.routeMu.Unlock()
		var to netip.AddrPort
		if peer != nil && !sess.routesClosed {
			to = *peer
		}
		if sess.s.router != nil {
			sess.s.router.move(*addr, to, in)
		}
		*addr = to
	})
	dt.OnStateChange(func(st webrtc.DTLSTransportState) {
		if st != webrtc.DTLSTransportStateConnected {
			return
		}
		local, peerKeys, err := tap.keys()
		if err != nil {
			sess.log.Debug("sfu: no direct path for this connection", "err", err)
			return
		}
		remote.Store(&peerKeys)
		if out != nil {
			out.keys.Store(&local)
		}
	})
}

// unroute stops the media socket's reader from reading this session's peers.
func (sess *session) unroute() {
	sess.routeMu.Lock()
	defer sess.routeMu.Unlock()
	sess.routesClosed = true
	if sess.s.router == nil {
		return
	}
	for _, a := range []*netip.AddrPort{&sess.pubAddr, &sess.subAddr} {
		sess.s.router.move(*a, netip.AddrPort{}, nil)
		*a = netip.AddrPort{}
	}
}

// addDown starts sending src to this participant.
func (sess *session) addDown(src *source) {
	sess.mu.Lock()
	if sess.closed || sess.sub == nil || sess.downs[src.id] != nil {
		sess.mu.Unlock()
		return
	}
	size := sess.s.cfg.VideoQueue
	if src.kind == webrtc.RTPCodecTypeAudio {
		size = sess.s.cfg.AudioQueue
	}
	d := newDownTrack(src, src.owner, size, sess.s.m, sess.markFirstPacket)
	d.maxLayer = sess.maxLayer
	d.eg = sess.s.eg
	d.inline = &sess.udpOut
	d.sub = sess.egress
	tr, err := sess.sub.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		sess.mu.Unlock()
		sess.log.Warn("sfu: add track", "err", err)
		return
	}
	sender := tr.Sender()
	sess.downs[src.id] = &subTrack{d: d, sender: sender}
	sess.mu.Unlock()
	if src.kind == webrtc.RTPCodecTypeVideo {
		d.selectLayer(sess.budget(), false, time.Now().UnixNano())
	}
	src.addDown(d)
	go d.readRTCP(sender, func(bps uint64) { sess.remb.Store(bps) })
	sess.negotiate(false)
}

// removeDown stops sending src to this participant.
func (sess *session) removeDown(src *source) {
	sess.mu.Lock()
	st := sess.downs[src.id]
	if st == nil || sess.closed {
		sess.mu.Unlock()
		return
	}
	delete(sess.downs, src.id)
	sub := sess.sub
	sess.mu.Unlock()
	src.removeDown(st.d)
	st.d.stop()
	if sub != nil {
		_ = sub.RemoveTrack(st.sender)
	}
	sess.negotiate(false)
}

// negotiate sends a new "sub" offer, or remembers to once the pending one is answered.
func (sess *session) negotiate(iceRestart bool) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed || !sess.started || sess.sub == nil || sess.ctx.Err() != nil {
		return
	}
	if len(sess.downs) == 0 && sess.sub.LocalDescription() == nil {
		return // nothing to receive yet: an offer without media is useless
	}
	if sess.awaitingAnswer || sess.sub.SignalingState() != webrtc.SignalingStateStable {
		sess.pendingNeg = true
		sess.pendingRestart = sess.pendingRestart || iceRestart
		return
	}
	sess.subGate.close()
	offer, err := sess.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err == nil {
		err = sess.sub.SetLocalDescription(offer)
	}
	if err != nil {
		sess.log.Warn("sfu: subscriber offer", "err", err)
		return
	}
	sess.awaitingAnswer = true
	sess.send(ServerMessage{Type: TypeOffer, PC: PCSub, SDP: offer.SDP})
	sess.subGate.openAfter(sess, PCSub)
}

func (sess *session) handleAnswer(sdpText string) error {
	sess.mu.Lock()
	if sess.sub == nil || !sess.awaitingAnswer {
		sess.mu.Unlock()
		return Refusef(CodeBadMessage, "no offer is waiting for an answer")
	}
	err := sess.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdpText})
	if err != nil {
		sess.mu.Unlock()
		return Refusef(CodeBadSDP, "answer refused: %v", err)
	}
	sess.awaitingAnswer = false
	cands := sess.subCands
	sess.subCands = nil
	for _, c := range cands {
		_ = sess.sub.AddICECandidate(c)
	}
	again, restart := sess.pendingNeg, sess.pendingRestart
	sess.pendingNeg, sess.pendingRestart = false, false
	sess.mu.Unlock()
	if again {
		sess.negotiate(restart)
	}
	return nil
}

func (sess *session) handleCandidate(pc string, c webrtc.ICECandidateInit) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	target := sess.pub
	if pc == PCSub {
		target = sess.sub
		if target != nil && target.RemoteDescription() == nil {
			if len(sess.subCands) < 64 {
				sess.subCands = append(sess.subCands, c)
			}
			return nil
		}
	}
	if pc == PCPub && (target == nil || target.RemoteDescription() == nil) {
		// Trickled before the offer it belongs to (clients race them): keep a few.
		if len(sess.pubCands) >= 64 {
			return Refusef(CodeBadMessage, "too many candidates before an offer")
		}
		sess.pubCands = append(sess.pubCands, c)
		return nil
	}
	if target == nil {
		return Refusef(CodeBadMessage, "no %q connection in this call", pc)
	}
	if err := target.AddICECandidate(c); err != nil {
		return Refusef(CodeBadMessage, "bad candidate: %v", err)
	}
	return nil
}

// checkOffer enforces the codecs and media the room carries before pion sees the offer.
func (sess *session) checkOffer(sdpText string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(sdpText); err != nil {
		return Refusef(CodeBadSDP, "offer is not valid SDP")
	}
	audio, video := 0, 0
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue // rejected or stopped section
		}
		switch m.MediaName.Media {
		case "audio":
			audio++
			if !hasCodec(m, "opus") {
				return Refusef(CodeBadSDP, "audio must be Opus")
			}
		case "video":
			if _, inactive := m.Attribute("inactive"); inactive {
				continue
			}
			video++
			if sess.room.media != MediaVideo {
				return Refusef(CodeBadSDP, "this is an audio-only call: no video may be sent")
			}
			if !hasCodec(m, "vp8") {
				return Refusef(CodeBadSDP, "video must be VP8")
			}
		case "application":
		default:
			return Refusef(CodeBadSDP, "unsupported media section %q", truncate(m.MediaName.Media, 16))
		}
	}
	if audio > 1 || video > 1 {
		return Refusef(CodeBadSDP, "at most one audio and one video track may be published")
	}
	return nil
}

func hasCodec(m *sdp.MediaDescription, name string) bool {
	for _, a := range m.Attributes {
		if a.Key == "rtpmap" {
			if _, codec, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.ToLower(codec), name+"/") {
				return true
			}
		}
	}
	return false
}

// handleOffer answers the client's "pub" offer (publish, renegotiate, ICE restart).
func (sess *session) handleOffer(sdpText string) error {
	if !sess.room.canPublish(sess.adm) {
		return Refusef(CodeNotAllowed, "only the expert publishes in an event")
	}
	if err := sess.checkOffer(sdpText); err != nil {
		return err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return nil
	}
	if sess.pub == nil {
		pc, tap, chain, err := sess.s.apis.newPublisherPC()
		if err != nil {
			return Refusef(CodeInternal, "cannot create peer connection")
		}
		in := newPubIn(sess)
		sess.pubIn, sess.chain = in, &ingestChain{ic: chain}
		sess.watchPath(pc, tap, &in.keys, in, &sess.pubAddr, nil)
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			sess.pubGate.add(sess, PCPub, c.ToJSON())
		})
		pc.OnTrack(sess.onTrack)
		sess.pub = pc
		sess.pubPC.Store(pc)
	}
	if err := sess.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpText}); err != nil {
		return Refusef(CodeBadSDP, "offer refused: %v", err)
	}
	for _, c := range sess.pubCands {
		_ = sess.pub.AddICECandidate(c)
	}
	sess.pubCands = nil
	sess.pubGate.close()
	answer, err := sess.pub.CreateAnswer(nil)
	if err == nil {
		err = sess.pub.SetLocalDescription(answer)
	}
	if err != nil {
		return Refusef(CodeBadSDP, "cannot answer: %v", err)
	}
	sess.send(ServerMessage{Type: TypeAnswer, PC: PCPub, SDP: answer.SDP})
	sess.pubGate.openAfter(sess, PCPub)
	return nil
}

// onTrack turns each incoming track (or simulcast layer) into a source layer.
func (sess *session) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	idx := 0
	if rid := track.RID(); rid != "" {
		idx = layerIndex(rid)
		if idx < 0 {
			sess.log.Warn("sfu: unknown simulcast RID ignored", "rid", truncate(rid, 16))
			return
		}
	}
	kind := track.Kind()
	sess.log.Debug("sfu: track", "kind", kind, "rid", track.RID(), "ssrc", track.SSRC())
	id := sess.adm.User + "/" + kind.String() + "/" + track.ID()
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		return
	}
	src := sess.sources[id]
	fresh := src == nil
	if fresh {
		src = newSource(id, sess.adm.User, kind, track.Codec().RTPCodecCapability, sess.s.m, sess.writePLI)
		sess.sources[id] = src
	}
	l := src.addLayer(idx, uint32(track.SSRC()), sess.s.cfg.CacheSize)
	chain, in := sess.chain, sess.pubIn
	sess.mu.Unlock()
	if chain != nil {
		chain.bind(l, track, recv)
	}
	if in != nil {
		in.addLayer(l) // from now on the socket's reader may take its packets
	}
	if fresh {
		sess.room.addSource(src)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := track.Read(buf)
			if err != nil {
				break
			}
			l.ingest(buf[:n], time.Now().UnixNano())
		}
		src.layers[idx].CompareAndSwap(l, nil)
		for i := range src.layers {
			if src.layers[i].Load() != nil {
				return
			}
		}
		sess.mu.Lock()
		if sess.sources[id] == src {
			delete(sess.sources, id)
		}
		sess.mu.Unlock()
		sess.room.removeSource(src)
	}()
}
