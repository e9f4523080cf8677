package sfu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"
)

const (
	outQueue     = 128 // control messages waiting for a slow client
	chatQueue    = 32  // chat messages waiting for a slow client; more are dropped
	writeTimeout = 5 * time.Second
)

// session is one participant's signaling connection and peer connections.
type session struct {
	id   string
	s    *Server
	room *room
	adm  Admission
	ws   *websocket.Conn
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	out    chan ServerMessage // control: never dropped; a client that lets it fill is ended
	chat   chan ServerMessage // chat: best effort, written only when out is empty
	chatIn *rate.Limiter      // this participant's own chat sending

	joinedAt  time.Time // wall clock, for the join-to-first-packet metric
	firstOnce sync.Once
	remb      atomic.Uint64
	leaving   atomic.Bool
	pubPC     atomic.Pointer[webrtc.PeerConnection]
	udpOut    atomic.Bool // the sub connection's selected path is UDP (writes never block)

	routeMu          sync.Mutex // the connections' routes on the media socket (ingress.go)
	pubAddr, subAddr netip.AddrPort
	routesClosed     bool

	mu             sync.Mutex
	closed         bool
	started        bool // "joined" sent: offers may follow
	pub, sub       *webrtc.PeerConnection
	egress         *subOut      // the sub connection's egress state (direct.go)
	pubIn          *pubIn       // the pub connection's direct ingress (ingress.go)
	chain          *ingestChain // the pub connection's receiving interceptors
	lastReport     time.Time    // the last sender reports; owned by the room's ticker
	downs          map[string]*subTrack
	sources        map[string]*source
	awaitingAnswer bool
	pendingNeg     bool
	pendingRestart bool
	subCands       []webrtc.ICECandidateInit // client candidates before its answer
	pubCands       []webrtc.ICECandidateInit // client candidates before its offer
	pubGate        candGate
	subGate        candGate
	maxLayer       int
}

type subTrack struct {
	d      *downTrack
	sender *webrtc.RTPSender
}

// ServeHTTP serves the signaling WebSocket (see signal.go for the protocol).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosing() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has written the HTTP error
	}
	ws.SetReadLimit(MaxMessageBytes)
	s.wg.Add(1)
	defer s.wg.Done()
	s.serve(r.Context(), ws)
}

func (s *Server) serve(parent context.Context, ws *websocket.Conn) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	defer cancel(nil)

	msg, err := s.readJoin(ctx, ws)
	if err == nil {
		var a Admission
		a, err = s.admit(ctx, msg)
		if err == nil {
			sess := &session{
				id: newID(), s: s, adm: a, ws: ws, ctx: ctx, cancel: cancel,
				out: make(chan ServerMessage, outQueue), chat: make(chan ServerMessage, chatQueue),
				chatIn:   rate.NewLimiter(rate.Limit(s.cfg.ChatRate), s.cfg.ChatBurst),
				joinedAt: time.Now(),
				downs:    map[string]*subTrack{}, sources: map[string]*source{}, maxLayer: 2,
				log: s.log.With("room", a.Room, "user", a.User),
			}
			sess.run()
			return
		}
	}
	code := ErrorCode(err)
	s.m.refusals.WithLabelValues(code).Inc()
	s.log.Info("sfu: join refused", "code", code, "err", err)
	refuse(ctx, ws, err)
}

func (s *Server) readJoin(ctx context.Context, ws *websocket.Conn) (ClientMessage, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	typ, b, err := ws.Read(rctx)
	if err != nil {
		return ClientMessage{}, Refusef(CodeBadMessage, "no join message: %v", err)
	}
	if typ != websocket.MessageText {
		return ClientMessage{}, Refusef(CodeBadMessage, "messages must be text frames")
	}
	msg, err := DecodeClientMessage(b)
	if err != nil {
		return ClientMessage{}, err
	}
	if msg.Type != TypeJoin {
		return ClientMessage{}, Refusef(CodeBadMessage, "the first message must be a join")
	}
	return msg, nil
}

// refuse tells the client why, then closes with the code's status and the code as reason.
func refuse(ctx context.Context, ws *websocket.Conn, err error) {
	code := ErrorCode(err)
	msg := err.Error()
	var r *RefusalError
	if errors.As(err, &r) {
		msg = r.Message
	}
	b, _ := json.Marshal(ServerMessage{Type: TypeError, Code: code, Message: msg})
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	_ = ws.Write(wctx, websocket.MessageText, b)
	_ = ws.Close(websocket.StatusCode(CloseStatus(code)), code)
}

func (sess *session) run() {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		sess.room, err = sess.s.roomFor(sess.adm)
		if err != nil {
			break
		}
		var others []Participant
		var replaced *session
		others, replaced, err = sess.joinRoom()
		if err == nil {
			if replaced != nil {
				replaced.fail(Refusef(CodeReplaced, "you joined this call from another connection"))
			}
			sess.start(others)
			return
		}
		if ErrorCode(err) != CodeRoomNotOpen {
			break
		}
	}
	sess.s.m.refusals.WithLabelValues(ErrorCode(err)).Inc()
	refuse(sess.ctx, sess.ws, err)
}

func (sess *session) joinRoom() ([]Participant, *session, error) {
	// The receiving connection exists before the room offers its tracks.
	if sess.room.media != MediaChat && (sess.room.kind == KindAppointment || sess.adm.Role == RoleGuest) {
		if err := sess.newSub(); err != nil {
			return nil, nil, Refusef(CodeInternal, "cannot create peer connection")
		}
	}
	return sess.room.join(sess)
}

func (sess *session) start(others []Participant) {
	s := sess.s
	s.m.joins.Inc()
	sess.log.Info("sfu: joined", "role", sess.adm.Role)
	self := participantOf(sess.adm)
	sess.send(ServerMessage{
		Type: TypeJoined, Session: sess.id, Room: sess.adm.Room, Kind: sess.adm.Kind, Media: sess.adm.Media,
		Self: &self, Participants: others, Publish: sess.room.canPublish(sess.adm),
		GraceMs: s.cfg.ReconnectGrace.Milliseconds(),
	})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		sess.writeLoop()
	}()
	// Reads do not use sess.ctx: cancelling a read closes the socket at once, and
	// a refusal must reach the client first. Ending the session closes the socket,
	// which ends the read.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-sess.ctx.Done()
		var r *RefusalError
		if errors.As(context.Cause(sess.ctx), &r) {
			s.m.refusals.WithLabelValues(r.Code).Inc()
			refuse(context.Background(), sess.ws, r)
			return
		}
		_ = sess.ws.Close(websocket.StatusNormalClosure, "")
	}()
	sess.mu.Lock()
	sess.started = true
	sess.mu.Unlock()
	sess.negotiate(false)
	err := sess.readLoop()
	sess.cancel(err)
	<-writerDone

	leave := sess.leaving.Load() || sess.room.isShuttingDown() || s.isClosing()
	sess.teardown()
	sess.room.detach(sess, leave)
	select {
	case <-closed:
	case <-time.After(time.Second):
		// The peer is gone and will not complete the close handshake.
		_ = sess.ws.CloseNow()
		<-closed
	}
	sess.log.Info("sfu: session ended", "leave", leave, "cause", context.Cause(sess.ctx))
}

// fail ends the session with a refusal sent to the client.
func (sess *session) fail(err *RefusalError) {
	sess.cancel(err)
}

func (sess *session) readLoop() error {
	for {
		typ, b, err := sess.ws.Read(context.Background())
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			sess.sendError(Refusef(CodeBadMessage, "messages must be text frames"))
			continue
		}
		msg, err := DecodeClientMessage(b)
		if ErrorCode(err) == CodeChatTooLong {
			sess.sendChatError(err)
			continue
		}
		if err != nil {
			sess.sendError(err)
			continue
		}
		if err := sess.handle(msg); err != nil {
			if errors.Is(err, errLeave) {
				return err
			}
			sess.sendError(err)
		}
	}
}

var errLeave = errors.New("participant left")

func (sess *session) handle(msg ClientMessage) error {
	switch msg.Type {
	case TypeJoin:
		return Refusef(CodeBadMessage, "already joined")
	case TypeLeave:
		sess.leaving.Store(true)
		return errLeave
	case TypeOffer:
		return sess.handleOffer(msg.SDP)
	case TypeAnswer:
		return sess.handleAnswer(msg.SDP)
	case TypeCandidate:
		return sess.handleCandidate(msg.PC, *msg.Candidate)
	case TypeRestart:
		sess.negotiate(true)
	case TypeLayer:
		sess.mu.Lock()
		sess.maxLayer = layerIndex(msg.Layer)
		for _, st := range sess.downs {
			st.d.mu.Lock()
			st.d.maxLayer = sess.maxLayer
			st.d.mu.Unlock()
		}
		sess.mu.Unlock()
	case TypeChat:
		// Monotonic time, not the control plane's (possibly simulated) clock.
		if !sess.chatIn.Allow() {
			sess.s.m.chatRefused.Inc()
			sess.sendChatError(Refusef(CodeChatRateLimited, "too many messages, wait a moment"))
			return nil
		}
		from := participantOf(sess.adm)
		sess.room.broadcastChat(ServerMessage{
			Type: TypeChat, From: &from, Text: msg.Text, At: sess.s.deps.Now().UTC().Format(time.RFC3339),
		})
	}
	return nil
}

// sendChat queues a chat message without ever ending the session: a receiver
// whose chat lane is full misses it.
func (sess *session) sendChat(msg ServerMessage) {
	select {
	case <-sess.ctx.Done():
	case sess.chat <- msg:
	default:
		sess.s.m.chatDropped.Inc()
	}
}

// sendChatError refuses a chat message on the chat lane: a flooder that does
// not read its refusals loses some of them, not its call.
func (sess *session) sendChatError(err error) {
	var r *RefusalError
	if errors.As(err, &r) {
		sess.sendChat(ServerMessage{Type: TypeError, Code: r.Code, Message: r.Message})
	}
}

func (sess *session) send(msg ServerMessage) {
	select {
	case <-sess.ctx.Done():
	case sess.out <- msg:
	default:
		// A client that does not read its signaling cannot follow renegotiation.
		sess.cancel(errors.New("signaling queue full"))
	}
}

func (sess *session) sendError(err error) {
	var r *RefusalError
	if !errors.As(err, &r) {
		r = Refusef(CodeInternal, "%v", err)
	}
	sess.send(ServerMessage{Type: TypeError, Code: r.Code, Message: r.Message})
}

// writeLoop writes control messages first: chat goes out only when no control
// message waits, so SDP and candidates never queue behind a chat burst.
func (sess *session) writeLoop() {
	for {
		var msg ServerMessage
		select {
		case <-sess.ctx.Done():
			return
		case msg = <-sess.out:
		default:
			select {
			case <-sess.ctx.Done():
				return
			case msg = <-sess.out:
			case msg = <-sess.chat:
			}
		}
		b, err := json.Marshal(msg)
		if err != nil {
			continue
		}
		wctx, cancel := context.WithTimeout(sess.ctx, writeTimeout)
		err = sess.ws.Write(wctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			sess.cancel(err)
			return
		}
	}
}

// teardown closes the peer connections and withdraws the published sources.
func (sess *session) teardown() {
	sess.mu.Lock()
	sess.closed = true
	pub, sub, chain := sess.pub, sess.sub, sess.chain
	downs := sess.downs
	sess.downs = map[string]*subTrack{}
	sources := sess.sources
	sess.sources = map[string]*source{}
	sess.mu.Unlock()
	sess.unroute()
	for _, src := range sources {
		sess.room.removeSource(src)
	}
	for _, st := range downs {
		st.d.src.removeDown(st.d)
		st.d.stop()
	}
	if chain != nil { // before the connection: its timers write RTCP on it
		_ = chain.ic.Close()
	}
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// markFirstPacket records join-to-first-packet once per session.
func (sess *session) markFirstPacket() {
	sess.firstOnce.Do(func() {
		sess.s.m.joinToFirst.Observe(time.Since(sess.joinedAt).Seconds())
	})
}

func (sess *session) writePLI(ssrc uint32) error {
	pub := sess.pubPC.Load() // no session lock: called under subscribers' track locks
	if pub == nil {
		return errors.New("no publisher connection")
	}
	return pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// candGate holds the server's ICE candidates for one connection until the SDP
// they belong to has been queued: a client cannot add a candidate before it
// has the description, and pion gathers on its own goroutine.
type candGate struct {
	mu      sync.Mutex
	open    bool
	pending []webrtc.ICECandidateInit
}

func (g *candGate) close() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

func (g *candGate) add(sess *session, pc string, c webrtc.ICECandidateInit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.pending = append(g.pending, c)
		return
	}
	sess.send(ServerMessage{Type: TypeCandidate, PC: pc, Candidate: &c})
}

// openAfter is called once the SDP message is queued.
func (g *candGate) openAfter(sess *session, pc string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for i := range g.pending {
		sess.send(ServerMessage{Type: TypeCandidate, PC: pc, Candidate: &g.pending[i]})
	}
	g.pending = nil
}
