package sfu

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","token":"t","room":"r"}`,
		`{"type":"offer","pc":"pub","sdp":"v=0"}`,
		`{"type":"candidate","pc":"sub","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"chat","text":"bonjour"}`, `{"type":"layer","layer":"q"}`, `{"type":"leave"}`,
		`[]`, `{"type":1}`, "\xff\xfe", `{"type":"join","token":"` + strings.Repeat("a", 5000) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMessage(b)
		if err != nil {
			if c := ErrorCode(err); c != CodeBadMessage && c != CodeChatTooLong {
				t.Fatalf("error without the bad_message or chat_too_long code: %v", err)
			}
			return
		}
		if verr := m.validate(); verr != nil {
			t.Fatalf("decoded message fails validation: %v", verr)
		}
		if m.Type == TypeCandidate && m.Candidate == nil {
			t.Fatal("candidate message without candidate")
		}
	})
}

func TestDecode_BadMessages(t *testing.T) {
	cases := map[string]string{
		"not json":        `{"type":`,
		"array":           `["join"]`,
		"no type":         `{"token":"x"}`,
		"unknown type":    `{"type":"hack"}`,
		"join no token":   `{"type":"join"}`,
		"offer for sub":   `{"type":"offer","pc":"sub","sdp":"v=0"}`,
		"answer no sdp":   `{"type":"answer","pc":"sub"}`,
		"candidate no pc": `{"type":"candidate","candidate":{"candidate":""}}`,
		"bad layer":       `{"type":"layer","layer":"x"}`,
		"empty chat":      `{"type":"chat","text":""}`,
		"invalid utf8":    "{\"type\":\"chat\",\"text\":\"\xff\"}",
		"oversized":       `{"type":"chat","text":"` + strings.Repeat("a", MaxMessageBytes) + `"}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeClientMessage([]byte(in)); ErrorCode(err) != CodeBadMessage {
				t.Fatalf("err = %v, want bad_message", err)
			}
		})
	}
	for name, text := range map[string]string{
		"too many characters": strings.Repeat("é", MaxChatRunes+1),
		"too many bytes":      strings.Repeat("😀", MaxChatBytes/4+1),
	} {
		if _, err := DecodeClientMessage([]byte(mustJSON(ClientMessage{Type: TypeChat, Text: text}))); ErrorCode(err) != CodeChatTooLong {
			t.Fatalf("%s: err = %v, want chat_too_long", name, err)
		}
	}
	if _, err := DecodeClientMessage([]byte(mustJSON(ClientMessage{Type: TypeChat, Text: strings.Repeat("é", MaxChatRunes)}))); err != nil {
		t.Fatalf("2000 accented letters refused: %v", err)
	}
}

// rawDial opens a signaling socket without the test client's machinery.
func rawDial(t *testing.T, env *testEnv) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), env.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// readUntilClose returns the last error message and the close status.
func readUntilClose(t *testing.T, ws *websocket.Conn) (ServerMessage, websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last ServerMessage
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errorsAs(err, &ce) {
				t.Fatalf("no close frame: %v", err)
			}
			return last, ce.Code, ce.Reason
		}
		var m ServerMessage
		_ = json.Unmarshal(b, &m)
		if m.Type == TypeError {
			last = m
		}
	}
}

// CALL-1: only admitted people join; every refusal has a clear code, and
// nothing is recorded for a refused join.
func TestJoin_CALL1_RefusalsHaveClearReasons(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.admit("client-ok", "apt1", "client", RoleGuest, KindAppointment, MediaVideo, 1)
	env.admit("client-2", "apt1", "intruder", RoleGuest, KindAppointment, MediaVideo, 1)
	env.adm.add("stale", Admission{Room: "apt1", User: "late", Role: RoleGuest, Kind: KindAppointment, Media: MediaVideo,
		Capacity: 1, Expires: env.clock.Now().Add(-time.Second)})
	env.adm.errs["expired"] = Refusef(CodeTokenExpired, "expired")
	env.adm.errs["early"] = Refusef(CodeRoomNotOpen, "the room opens 10 minutes before the start")
	env.adm.errs["closed"] = Refusef(CodeAccountClosed, "account closed")
	ok := dial(t, env, "client-ok", clientOpts{})
	ok.waitJoined(t)

	cases := []struct {
		name, first string
		code        string
	}{
		{"forged token", `{"type":"join","token":"forged"}`, CodeTokenInvalid},
		{"expired token (admitter)", `{"type":"join","token":"expired"}`, CodeTokenExpired},
		{"expired token (clock)", `{"type":"join","token":"stale"}`, CodeTokenExpired},
		{"room not open", `{"type":"join","token":"early"}`, CodeRoomNotOpen},
		{"closed account", `{"type":"join","token":"closed"}`, CodeAccountClosed},
		{"wrong room", `{"type":"join","token":"client-ok","room":"apt2"}`, CodeWrongRoom},
		{"APT-2 second client", `{"type":"join","token":"client-2"}`, CodeRoomFull},
		{"first message not join", `{"type":"chat","text":"hi"}`, CodeBadMessage},
		{"garbage", `not json`, CodeBadMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := rawDial(t, env)
			if err := ws.Write(context.Background(), websocket.MessageText, []byte(c.first)); err != nil {
				t.Fatal(err)
			}
			msg, status, reason := readUntilClose(t, ws)
			if msg.Code != c.code || reason != c.code || int(status) != CloseStatus(c.code) {
				t.Fatalf("got error %q, close %d %q; want %q (%d)", msg.Code, status, reason, c.code, CloseStatus(c.code))
			}
			if msg.Message == "" {
				t.Fatal("refusal without a human-readable message")
			}
		})
	}
	if ev := env.presence.snapshot(); len(ev) != 1 || ev[0].User != "client" {
		t.Fatalf("presence touched by refusals: %+v", ev)
	}
	if p := env.counter("atlas11_sfu_participants"); p != 1 {
		t.Fatalf("participants = %v, want 1", p)
	}
}

// makeOffer builds a publishing offer with the given video codec (or none).
func makeOffer(t *testing.T, videoMime string, withVideo bool) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(opusCodec(), webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if withVideo {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: videoMime, ClockRate: 90000}, PayloadType: 102,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	if withVideo {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// Bad input after joining: a clear error, the session stays, nothing crashes.
func TestSignaling_BadInputGetsClearErrors(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.admit("host", "ev1", "expert", RoleHost, KindEvent, MediaVideo, 10)
	env.admit("guest", "ev1", "client", RoleGuest, KindEvent, MediaVideo, 10)
	env.admit("audio", "apt-audio", "expert", RoleHost, KindAppointment, MediaAudio, 1)
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	guest := dial(t, env, "guest", clientOpts{})
	guest.waitJoined(t)
	audio := dial(t, env, "audio", clientOpts{})
	audio.waitJoined(t)

	h264 := makeOffer(t, webrtc.MimeTypeH264, true)
	vp8 := makeOffer(t, webrtc.MimeTypeVP8, true)
	cases := []struct {
		name string
		c    *client
		raw  string
		code string
	}{
		{"malformed JSON", host, `{"type":"offer",`, CodeBadMessage},
		{"unknown type", host, `{"type":"teleport"}`, CodeBadMessage},
		{"second join", host, `{"type":"join","token":"host"}`, CodeBadMessage},
		{"SDP garbage", host, `{"type":"offer","pc":"pub","sdp":"hello"}`, CodeBadSDP},
		{"SDP without VP8", host, mustJSON(ClientMessage{Type: TypeOffer, PC: PCPub, SDP: h264}), CodeBadSDP},
		{"EVT-7 guest publishes", guest, mustJSON(ClientMessage{Type: TypeOffer, PC: PCPub, SDP: vp8}), CodeNotAllowed},
		{"APT-1 video in an audio-only call", audio, mustJSON(ClientMessage{Type: TypeOffer, PC: PCPub, SDP: vp8}), CodeBadSDP},
		{"event host has no receiving connection", host, `{"type":"candidate","pc":"sub","candidate":{"candidate":"x"}}`, CodeBadMessage},
		{"answer with no offer", host, `{"type":"answer","pc":"sub","sdp":"v=0"}`, CodeBadMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(c.c.errorCodes())
			if err := c.c.ws.Write(context.Background(), websocket.MessageText, []byte(c.raw)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "error reply", func() bool { return len(c.c.errorCodes()) > before })
			if got := c.c.errorCodes()[before]; got != c.code {
				t.Fatalf("code %q, want %q", got, c.code)
			}
		})
	}
	// Binary frames are refused, the socket stays.
	_ = host.ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3})
	waitFor(t, 5*time.Second, "binary refused", func() bool { return len(host.errorCodes()) == 8 })

	// Chat still works after all that.
	host.send(ClientMessage{Type: TypeChat, Text: "bienvenue"})
	waitFor(t, 5*time.Second, "chat relayed", func() bool {
		guest.mu.Lock()
		defer guest.mu.Unlock()
		for _, m := range guest.parts {
			if m.Type == TypeChat && m.Text == "bienvenue" && m.From != nil && m.From.User == "expert" && m.At != "" {
				return true
			}
		}
		return false
	})

	// An oversized frame closes the socket (1009); the server lives on.
	_ = host.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"chat","text":"`+strings.Repeat("a", MaxMessageBytes)+`"}`))
	if status, _ := host.closeStatus(t); status != websocket.StatusMessageTooBig {
		t.Fatalf("oversized frame: close %d", status)
	}
	again := dial(t, env, "host", clientOpts{})
	again.waitJoined(t)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Garbage on the media ports (UDP mux and ICE-TCP) is dropped; calls still work.
func TestMediaPort_GarbageDropped(t *testing.T) {
	env := newTestEnv(t, Config{TCPPort: 0})
	u, err := net.Dial("udp", env.srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	garbage := [][]byte{
		{}, {0}, []byte("hello"), make([]byte, 1400),
		{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3},      // RTP-looking
		{0x80, 200, 0, 6, 0, 0, 0, 1},                          // RTCP-looking, truncated
		{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2}, // STUN-looking, truncated
		{0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff},    // DTLS-looking
	}
	for i := 0; i < 20; i++ {
		for _, g := range garbage {
			_, _ = u.Write(g)
		}
	}
	if a := env.srv.TCPAddr(); a != nil {
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte{0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9})
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		_ = c.Close()
	}
	env.admit("host", "ev1", "expert", RoleHost, KindEvent, MediaVideo, 10)
	env.admit("guest", "ev1", "client", RoleGuest, KindEvent, MediaVideo, 10)
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	host.publish(t, true, false, 15)
	g := dial(t, env, "guest", clientOpts{})
	waitFor(t, 15*time.Second, "media after garbage", func() bool { return g.stats("video").count() > 10 })
}
