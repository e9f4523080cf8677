package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// ---- seams: admission, presence, clock ----

type fakeAdmitter struct {
	mu     sync.Mutex
	tokens map[string]Admission
	errs   map[string]error
}

func newFakeAdmitter() *fakeAdmitter {
	return &fakeAdmitter{tokens: map[string]Admission{}, errs: map[string]error{}}
}

func (f *fakeAdmitter) add(token string, a Admission) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = a
}

func (f *fakeAdmitter) Admit(_ context.Context, token string) (Admission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err, ok := f.errs[token]; ok {
		return Admission{}, err
	}
	a, ok := f.tokens[token]
	if !ok {
		return Admission{}, Refusef(CodeTokenInvalid, "unknown or forged token")
	}
	return a, nil
}

type presenceLog struct {
	mu     sync.Mutex
	events []PresenceEvent
}

func (p *presenceLog) Presence(e PresenceEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *presenceLog) snapshot() []PresenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PresenceEvent(nil), p.events...)
}

// waitFor polls cond (not a sleep standing in for a rule: media and sockets
// are real and asynchronous).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ---- server under test ----

func testLogger() *slog.Logger {
	if os.Getenv("SFU_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testEnv struct {
	srv      *Server
	http     *httptest.Server
	url      string
	adm      *fakeAdmitter
	presence *presenceLog
	clock    *fakeClock
	reg      *prometheus.Registry
}

func newTestEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	cfg.ListenIP = "127.0.0.1"
	cfg.IncludeLoopback = true
	if cfg.TCPPort == 0 {
		cfg.TCPPort = -1
	}
	env := &testEnv{
		adm: newFakeAdmitter(), presence: &presenceLog{},
		clock: &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		reg:   prometheus.NewRegistry(),
	}
	srv, err := New(cfg, Deps{
		Admitter: env.adm, Presence: env.presence, Now: env.clock.Now,
		Logger: testLogger(), Registerer: env.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.srv = srv
	env.http = httptest.NewServer(srv)
	env.url = "ws" + strings.TrimPrefix(env.http.URL, "http")
	t.Cleanup(func() {
		start := time.Now()
		_ = srv.Close()
		env.http.Close()
		if d := time.Since(start); d > time.Second {
			t.Logf("server shutdown took %v", d)
		}
	})
	return env
}

// admit registers a token for user in room.
func (env *testEnv) admit(token, room, user string, role Role, kind Kind, media Media, capacity int) {
	env.adm.add(token, Admission{
		Room: room, User: user, Name: strings.ToUpper(user), Role: role, Kind: kind, Media: media,
		Capacity: capacity, Expires: env.clock.Now().Add(time.Hour),
	})
}

func (env *testEnv) counter(name string) float64 {
	mfs, err := env.reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				switch {
				case m.Counter != nil:
					sum += m.Counter.GetValue()
				case m.Gauge != nil:
					sum += m.Gauge.GetValue()
				case m.Histogram != nil:
					sum += float64(m.Histogram.GetSampleCount())
				}
			}
			return sum
		}
	}
	return 0
}

// ---- pion test client ----

type clientOpts struct {
	dropEvery int    // drop one of every N first-time video packets received (loss injection)
	rembBps   uint64 // send REMB with this cap
	stuck     bool   // never read media
	bare      bool   // no NACK, TWCC or reports: the cheapest receiver (49-peer test)
	ignorePLI bool   // publisher: keyframes only on its own schedule
	kfFrames  int    // publisher: frames between keyframes (default 2 s)
}

type client struct {
	t    testing.TB
	ws   *websocket.Conn
	ctx  context.Context
	stop context.CancelFunc
	opts clientOpts
	api  *webrtc.API

	mu       sync.Mutex
	pub, sub *webrtc.PeerConnection
	joined   *ServerMessage
	errs     []ServerMessage
	layers   []string
	parts    []ServerMessage
	closeErr error
	tracks   map[string]*recvStats // by kind
	dropped  atomic.Int64
	pubAns   chan string
	done     chan struct{}
}

type recvStats struct {
	mu        sync.Mutex
	firstKey  *bool // whether the first packet started a VP8 keyframe
	packets   int
	first     uint16
	max       uint16
	seen      [65536 / 64]uint64
	distinct  int
	maxTSJump uint32
	lastSeq   uint16
	lastTS    uint32
	ssrc      uint32
	reports   atomic.Int64 // sender reports received for this track
}

func (r *recvStats) add(p *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := p.SequenceNumber
	if r.packets == 0 && r.firstKey == nil {
		k := vp8KeyframeStart(p.Payload)
		r.firstKey = &k
	}
	if r.packets == 0 {
		r.first, r.max = s, s
	} else if int16(s-r.max) > 0 {
		if s == r.lastSeq+1 {
			if d := p.Timestamp - r.lastTS; d > r.maxTSJump && d < 1<<31 {
				r.maxTSJump = d
			}
		}
		r.max = s
	}
	if r.seen[s/64]&(1<<(s%64)) == 0 {
		r.seen[s/64] |= 1 << (s % 64)
		r.distinct++
	}
	r.packets++
	r.lastSeq, r.lastTS = s, p.Timestamp
}

// missing is how many sequence numbers between first and max never arrived.
func (r *recvStats) missing() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.packets == 0 {
		return 0
	}
	return int(uint16(r.max-r.first)) + 1 - r.distinct
}

func (r *recvStats) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets
}

func clientAPI(t testing.TB, opts clientOpts, publisher bool, dropped *atomic.Int64) *webrtc.API {
	t.Helper()
	me, err := newMediaEngine()
	if err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if opts.dropEvery > 0 {
		ir.Add(&dropFactory{every: opts.dropEvery, count: dropped})
	}
	if publisher {
		resp, _ := nack.NewResponderInterceptor()
		ir.Add(resp)
		hx, _ := twcc.NewHeaderExtensionInterceptor()
		ir.Add(hx)
		sr, _ := report.NewSenderInterceptor()
		ir.Add(sr)
	} else if !opts.bare {
		gen, _ := nack.NewGeneratorInterceptor()
		ir.Add(gen)
		tw, _ := twcc.NewSenderInterceptor()
		ir.Add(tw)
		rr, _ := report.NewReceiverInterceptor()
		ir.Add(rr)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if opts.dropEvery > 0 {
		// Loss is injected after decryption; SRTP would otherwise reject the
		// retransmission of a packet it already saw as a replay.
		se.DisableSRTPReplayProtection(true)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// dial connects and sends join; it does not wait for the answer.
func dial(t testing.TB, env *testEnv, token string, opts clientOpts) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ws, _, err := websocket.Dial(ctx, env.url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: t, ws: ws, ctx: ctx, stop: cancel, opts: opts, tracks: map[string]*recvStats{},
		pubAns: make(chan string, 4), done: make(chan struct{})}
	c.api = clientAPI(t, opts, false, &c.dropped)
	t.Cleanup(c.close)
	c.send(ClientMessage{Type: TypeJoin, Token: token})
	go c.readLoop()
	return c
}

func (c *client) close() {
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > time.Second {
			c.t.Logf("client close took %v", d)
		}
	}()
	c.stop()
	_ = c.ws.CloseNow()
	c.mu.Lock()
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}

func (c *client) send(m ClientMessage) {
	b, _ := json.Marshal(m)
	_ = c.ws.Write(c.ctx, websocket.MessageText, b)
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		var m ServerMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case TypeJoined:
			c.mu.Lock()
			c.joined = &m
			c.mu.Unlock()
		case TypeError:
			c.mu.Lock()
			c.errs = append(c.errs, m)
			c.mu.Unlock()
		case TypeLayer:
			c.mu.Lock()
			c.layers = append(c.layers, m.Layer)
			c.mu.Unlock()
		case TypeParticipant, TypeChat:
			c.mu.Lock()
			c.parts = append(c.parts, m)
			c.mu.Unlock()
		case TypeOffer:
			c.onOffer(m.SDP)
		case TypeAnswer:
			c.pubAns <- m.SDP
		case TypeCandidate:
			c.mu.Lock()
			pc := c.sub
			if m.PC == PCPub {
				pc = c.pub
			}
			c.mu.Unlock()
			if pc != nil && m.Candidate != nil {
				_ = pc.AddICECandidate(*m.Candidate)
			}
		}
	}
}

func (c *client) onOffer(offer string) {
	c.mu.Lock()
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.mu.Unlock()
			return
		}
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand != nil {
				init := cand.ToJSON()
				c.send(ClientMessage{Type: TypeCandidate, PC: PCSub, Candidate: &init})
			}
		})
		pc.OnTrack(c.onTrack)
		c.sub = pc
	}
	pc := c.sub
	c.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		c.t.Errorf("client: set offer: %v", err)
		return
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		c.t.Errorf("client: answer: %v", err)
		return
	}
	c.send(ClientMessage{Type: TypeAnswer, PC: PCSub, SDP: ans.SDP})
}

func (c *client) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	st := &recvStats{ssrc: uint32(tr.SSRC())}
	go func() { // counts the SFU's sender reports; ends with the connection
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == st.ssrc && sr.PacketCount > 0 {
					st.reports.Add(1)
				}
			}
		}
	}()
	c.mu.Lock()
	c.tracks[tr.Kind().String()] = st
	pc := c.sub
	c.mu.Unlock()
	if c.opts.rembBps > 0 && tr.Kind() == webrtc.RTPCodecTypeVideo {
		go func() {
			tk := time.NewTicker(100 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-c.ctx.Done():
					return
				case <-tk.C:
					_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
						Bitrate: float32(c.opts.rembBps), SSRCs: []uint32{st.ssrc},
					}})
				}
			}
		}()
	}
	if c.opts.stuck {
		<-c.ctx.Done()
		return
	}
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		st.add(p)
	}
}

func (c *client) stats(kind string) *recvStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.tracks[kind]; st != nil {
		return st
	}
	return &recvStats{}
}

func (c *client) waitJoined(t testing.TB) *ServerMessage {
	t.Helper()
	var j *ServerMessage
	waitFor(t, 10*time.Second, "joined", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		j = c.joined
		return j != nil
	})
	return j
}

func (c *client) lastLayer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.layers) == 0 {
		return ""
	}
	return c.layers[len(c.layers)-1]
}

func (c *client) errorCodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.errs {
		out = append(out, e.Code)
	}
	return out
}

// closeStatus waits for the server to close the socket and returns status and reason.
func (c *client) closeStatus(t testing.TB) (websocket.StatusCode, string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not close the socket")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce websocket.CloseError
	if errors.As(c.closeErr, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, fmt.Sprint(c.closeErr)
}

// ---- synthetic publisher ----

// layerSpec describes a synthetic simulcast layer: packets per frame and bytes per packet.
type layerSpec struct {
	rid     string
	packets int
	size    int
}

var testLayers = []layerSpec{{RIDLow, 1, 300}, {RIDMid, 1, 900}, {RIDHigh, 3, 1000}}

type publisher struct {
	c       *client
	pc      *webrtc.PeerConnection
	video   []*webrtc.TrackLocalStaticRTP
	audio   *webrtc.TrackLocalStaticRTP
	keyReq  [3]atomic.Bool
	mid     string
	midID   uint8
	ridID   uint8
	sent    atomic.Int64
	stopped chan struct{}
}

// publish negotiates the "pub" connection with a 3-layer VP8 simulcast (or one
// layer when simulcast is false) and Opus, then sends frames at fps until ctx ends.
func (c *client) publish(t testing.TB, video, simulcast bool, fps int) *publisher {
	t.Helper()
	api := clientAPI(t, clientOpts{}, true, nil)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{c: c, pc: pc, stopped: make(chan struct{})}
	c.mu.Lock()
	c.pub = pc
	c.mu.Unlock()
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			init := cand.ToJSON()
			c.send(ClientMessage{Type: TypeCandidate, PC: PCPub, Candidate: &init})
		}
	})
	if video {
		layers := testLayers
		if !simulcast {
			layers = testLayers[2:]
		}
		var sender *webrtc.RTPSender
		var tv *webrtc.RTPTransceiver
		for i, l := range layers {
			opts := []func(*webrtc.TrackLocalStaticRTP){}
			if simulcast {
				opts = append(opts, webrtc.WithRTPStreamID(l.rid))
			}
			tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "cam", opts...)
			if err != nil {
				t.Fatal(err)
			}
			p.video = append(p.video, tr)
			if i == 0 {
				tv, err = pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
				if err != nil {
					t.Fatal(err)
				}
				sender = tv.Sender()
			} else if err := sender.AddEncoding(tr); err != nil {
				t.Fatal(err)
			}
		}
		defer func() {
			p.mid = tv.Mid()
			for _, e := range sender.GetParameters().HeaderExtensions {
				switch e.URI {
				case sdp.SDESMidURI:
					p.midID = uint8(e.ID)
				case sdp.SDESRTPStreamIDURI:
					p.ridID = uint8(e.ID)
				}
			}
			go p.run(fps)
		}()
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok && !c.opts.ignorePLI {
						for i := range p.video {
							p.keyReq[i].Store(true) // next frame of every layer is a keyframe
						}
					}
				}
			}
		}()
	}
	at, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "cam")
	if err != nil {
		t.Fatal(err)
	}
	p.audio = at
	if _, err := pc.AddTransceiverFromTrack(at, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.send(ClientMessage{Type: TypeOffer, PC: PCPub, SDP: offer.SDP})
	select {
	case ans := <-c.pubAns:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to the pub offer; errors: %v", c.errorCodes())
	}
	if !video {
		go p.run(fps)
	}
	return p
}

func (p *publisher) run(fps int) {
	defer close(p.stopped)
	// Like a browser, start encoding once connected: a keyframe sent earlier is lost.
	for i := 0; i < 1000 && p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected; i++ {
		select {
		case <-p.c.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	frame := time.Second / time.Duration(fps)
	tk := time.NewTicker(frame)
	defer tk.Stop()
	var seq [3]uint16
	var aseq uint16
	buf := make([]byte, 1200)
	n := 0
	kfEvery := fps * 2
	if p.c.opts.kfFrames > 0 {
		kfEvery = p.c.opts.kfFrames
	}
	for {
		select {
		case <-p.c.ctx.Done():
			return
		case <-tk.C:
		}
		n++
		ts := uint32(n) * uint32(90000/fps)
		for i, tr := range p.video {
			spec := testLayers[len(testLayers)-len(p.video)+i]
			kf := n == 1 || n%kfEvery == 0 || p.keyReq[i].Swap(false)
			for k := 0; k < spec.packets; k++ {
				pl := buf[:spec.size]
				pl[0] = 0x00
				if k == 0 {
					pl[0] = 0x10 // S bit, partition 0
				}
				pl[1] = 0x11 // inter frame
				if kf {
					pl[1] = 0x10
				}
				seq[i]++
				h := rtp.Header{Version: 2, SequenceNumber: seq[i], Timestamp: ts, Marker: k == spec.packets-1}
				if len(p.video) > 1 { // simulcast: the SFU finds layers by MID and RID
					_ = h.SetExtension(p.midID, []byte(p.mid))
					_ = h.SetExtension(p.ridID, []byte(spec.rid))
				}
				_ = tr.WriteRTP(&rtp.Packet{Header: h, Payload: pl})
				p.sent.Add(1)
			}
		}
		for k := 0; k < 2; k++ { // audio at twice the frame rate
			aseq++
			_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{
				Version: 2, SequenceNumber: aseq, Timestamp: uint32(aseq) * 960,
			}, Payload: buf[:80]})
		}
	}
}

// ---- loss injection ----

// dropFactory drops one of every N video packets the first time each sequence
// number arrives; retransmissions pass, so NACK recovery can be measured.
type dropFactory struct {
	every int
	count *atomic.Int64
}

func (f *dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{every: f.every, count: f.count}, nil
}

type dropper struct {
	interceptor.NoOp
	every int
	count *atomic.Int64
}

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(strings.ToLower(info.MimeType), "video") {
		return reader
	}
	var mu sync.Mutex
	dropped := map[uint16]bool{}
	n := 0
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			i, attr, err := reader.Read(b, a)
			if err != nil || i < 4 {
				return i, attr, err
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			mu.Lock()
			n++
			drop := n%d.every == 0 && !dropped[seq]
			if drop {
				dropped[seq] = true
			}
			mu.Unlock()
			if !drop {
				return i, attr, err
			}
			d.count.Add(1)
		}
	})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
