package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// loopbackMedia is a media server's pion API: host candidates on one UDP
// port of 127.0.0.1 (like the SFU's UDP mux), which it makes cfg's media port.
func loopbackMedia(t *testing.T, cfg *Config) *webrtc.API {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { _ = mux.Close() })
	cfg.MediaUDPPorts = append(cfg.MediaUDPPorts, conn.LocalAddr().(*net.UDPAddr).Port)
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEUDPMux(mux)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// relayClientAPI is the browser side: it uses relay candidates only.
func relayClientAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// A relay-only pion peer reaches a peer on 127.0.0.1 through our TURN
// server and exchanges data; the relayed bytes show in the metrics.
func TestWebRTC_RelayOnlyPeerExchangesDataThroughTURN(t *testing.T) {
	cfg := testConfig()
	mediaAPI := loopbackMedia(t, &cfg)
	s := startServer(t, cfg, nil)
	ice, err := s.ICEServers("alice")
	if err != nil {
		t.Fatal(err)
	}
	var servers []webrtc.ICEServer
	for _, is := range ice {
		servers = append(servers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}

	client, err := relayClientAPI().NewPeerConnection(webrtc.Configuration{
		ICEServers:         servers,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	media, err := mediaAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()

	// The media side echoes every message.
	media.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(msg webrtc.DataChannelMessage) { _ = dc.Send(msg.Data) })
	})
	dc, err := client.CreateDataChannel("echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	const messages = 20
	echoed := make(chan struct{}, messages)
	dc.OnMessage(func(webrtc.DataChannelMessage) { echoed <- struct{}{} })
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })

	exchange(t, client, media)

	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("data channel did not open through the relay")
	}
	for i := range messages {
		if err := dc.SendText("hello " + string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range messages {
		select {
		case <-echoed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages came back", i, messages)
		}
	}

	// Only relay candidates on the client side: the pair in use is relayed.
	pair, err := client.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected pair %v (%v), want a relay candidate", pair, err)
	}
	if s.AllocationCount() == 0 {
		t.Error("no allocation held")
	}
	if to, from := s.counter(t, "relayed", dirToPeer), s.counter(t, "relayed", dirFromPeer); to < 20*6 || from < 20*6 {
		t.Errorf("relayed bytes to_peer=%v from_peer=%v, want the data channel traffic", to, from)
	}
}

// exchange runs a non-trickle offer/answer between two local peers.
func exchange(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
