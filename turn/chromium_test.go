package turn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"atlas11/web/webtest"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"
)

// Real Chromium, restricted to relay candidates, sends its (fake) camera and
// a data channel through our TURN server to a pion peer on 127.0.0.1 (the
// media IP). The call with the real SFU, up to a decoded frame, is the
// lead's end-to-end test; this one pins down Chromium's TURN client against
// ours: REST credentials, permissions, channels, relayed media.
func TestChromium_RelayOnlyCallThroughTURN(t *testing.T) {
	cfg := testConfig()
	mediaAPI := loopbackMedia(t, &cfg)
	s := startServer(t, cfg, nil)
	ice, err := s.ICEServers("chromium-user")
	if err != nil {
		t.Fatal(err)
	}
	ctx := webtest.Chrome(t)
	// Over UDP, and over TCP alone as from a network that blocks UDP.
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			only := ice[0]
			only.URLs = nil
			for _, u := range ice[0].URLs {
				if strings.HasSuffix(u, "?transport="+transport) && strings.HasPrefix(u, "turn:") {
					only.URLs = append(only.URLs, u)
				}
			}
			chromiumCall(t, ctx, s, mediaAPI, []ICEServer{only})
		})
	}
}

func chromiumCall(t *testing.T, ctx context.Context, s *testServer, mediaAPI *webrtc.API, ice []ICEServer) {
	toPeerBefore := s.counter(t, "relayed", dirToPeer)
	iceJSON, _ := json.Marshal(ice)

	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>turn</title>"))
	}))
	defer page.Close()

	// The media side: pion on loopback, counting video packets and echoing data.
	media, err := mediaAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	if _, err := media.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	packets := make(chan struct{}, 1000)
	media.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			select {
			case packets <- struct{}{}:
			default:
			}
		}
	})
	media.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.SendText(string(m.Data)) })
	})

	ctx = webtest.Tab(t, ctx)
	step := func(what, js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	offer := step("offer", `(async () => {
		const pc = new RTCPeerConnection({iceServers: `+string(iceJSON)+`, iceTransportPolicy: "relay"});
		window.pc = pc;
		const stream = await navigator.mediaDevices.getUserMedia({video: true});
		stream.getTracks().forEach(t => pc.addTrack(t, stream));
		const dc = pc.createDataChannel("echo");
		window.echoed = new Promise(resolve => { dc.onmessage = e => resolve(e.data); });
		dc.onopen = () => dc.send("ping through the relay");
		await pc.setLocalDescription(await pc.createOffer());
		await new Promise(resolve => {
			if (pc.iceGatheringState === "complete") return resolve();
			pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
		});
		return pc.localDescription.sdp;
	})()`)

	if err := media.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("offer from Chromium: %v\n%s", err, offer)
	}
	answer, err := media.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(media)
	if err := media.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	answerJSON, _ := json.Marshal(media.LocalDescription().SDP)
	step("answer", `(async () => { await pc.setRemoteDescription({type: "answer", sdp: `+string(answerJSON)+`}); return ""; })()`)

	if got := step("data channel echo", `window.echoed`); got != "ping through the relay" {
		t.Errorf("echo %q", got)
	}
	for i := 0; i < 50; i++ {
		select {
		case <-packets:
		case <-time.After(15 * time.Second):
			t.Fatalf("%d video packets arrived through the relay, want 50", i)
		}
	}
	// Chromium's selected pair uses a relay candidate of ours.
	local := step("stats", `(async () => {
		const stats = await pc.getStats();
		for (const s of stats.values()) {
			if (s.type === "transport" && s.selectedCandidatePairId) {
				const pair = stats.get(s.selectedCandidatePairId);
				const l = stats.get(pair.localCandidateId);
				return l.candidateType + " " + l.address + " " + (l.relayProtocol || "");
			}
		}
		return "none";
	})()`)
	if want := "relay 127.0.0.1 " + ice[0].URLs[0][strings.LastIndex(ice[0].URLs[0], "=")+1:]; local != want {
		t.Errorf("Chromium's selected local candidate: %q, want %q", local, want)
	}
	relayed := s.counter(t, "relayed", dirToPeer) - toPeerBefore
	if relayed < 50*100 || s.counter(t, "relayed", dirFromPeer) == 0 {
		t.Errorf("relayed bytes to_peer=%v from_peer=%v, want the video", relayed, s.counter(t, "relayed", dirFromPeer))
	}
	t.Logf("Chromium selected %s; relayed %v bytes to the media peer", local, relayed)
}
