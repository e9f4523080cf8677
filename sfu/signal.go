package sfu

// Signaling protocol, version 1.
//
// Transport: one WebSocket per participant, served by (*Server).ServeHTTP (mounted by
// the binary at /api/v1/rtc on the main HTTP port). Every frame is a text frame holding
// one JSON object with a "type" field. Frames larger than MaxMessageBytes close the
// socket (status 1009). Unknown fields are ignored; unknown types get an "error" message
// with code "bad_message" and the socket stays open.
//
// Each participant uses up to two RTCPeerConnections, so offers never collide (no glare):
//
//   - "pub": the client's sending connection. The CLIENT offers, the server answers.
//     Only a participant allowed to publish (both sides of a 1:1 appointment, the host of
//     an event) may send a "pub" offer. Video must be VP8 (simulcast with RIDs "q", "h",
//     "f" = low, medium, full, or a single layer); audio must be Opus. An offer without
//     them is refused with code "bad_sdp".
//   - "sub": the client's receiving connection. The SERVER offers, the client answers.
//     The server sends a new "sub" offer whenever tracks come or go (renegotiation).
//
// Client -> server:
//
//	{"type":"join","token":"<signed token>","room":"<optional room id>","session":"<optional>"}
//	    Must be the first message. "room", when given, must match the token's room
//	    (else "wrong_room"). "session" is the id from a previous "joined": sent when
//	    reconnecting, though any join by the same user in the same room within the grace
//	    period takes over the old session and keeps presence continuous.
//	{"type":"offer","pc":"pub","sdp":"..."}        publish / renegotiate / ICE restart
//	{"type":"answer","pc":"sub","sdp":"..."}       answer to the server's "sub" offer
//	{"type":"candidate","pc":"pub"|"sub","candidate":{"candidate":"...","sdpMid":"0","sdpMLineIndex":0}}
//	{"type":"restart"}                             ask for an ICE-restarting "sub" offer
//	{"type":"layer","layer":"q"|"h"|"f"}           highest video layer wanted (default "f")
//	{"type":"chat","text":"..."}                   at most MaxChatRunes runes and MaxChatBytes
//	    bytes (else "chat_too_long"); each sender gets Config.ChatRate messages a second
//	    with bursts of Config.ChatBurst (else "chat_rate_limited"). Both refusals are
//	    non-fatal. Chat is best effort: a receiver whose signaling is backed up misses
//	    chat messages, never offers, answers, candidates or participant notices.
//	{"type":"leave"}                               leave now (no grace period)
//
// Server -> client:
//
//	{"type":"joined","session":"...","room":"...","kind":"appointment"|"event",
//	 "media":"video"|"audio"|"chat","self":{...},"participants":[{...}],
//	 "publish":true|false,"graceMs":5000}
//	    participant objects: {"user":"...","name":"...","role":"host"|"guest"}
//	{"type":"participant","participant":{...},"joined":true|false}
//	{"type":"offer","pc":"sub","sdp":"..."}
//	{"type":"answer","pc":"pub","sdp":"..."}
//	{"type":"candidate","pc":"pub"|"sub","candidate":{...}}
//	{"type":"layer","layer":"q"|"h"|"f"}           video layer now forwarded to this client
//	{"type":"chat","from":{...},"text":"...","at":"RFC 3339 time"}
//	{"type":"error","code":"<code>","message":"<human readable>"}
//
// Refusals and fatal errors: the server sends an "error" message, then closes the socket
// with status CloseStatus(code) (4000-4099) and the code as the close reason. Codes:
// token_invalid, token_expired, room_not_open, account_closed, room_full, wrong_room,
// not_allowed, replaced (the same user joined again elsewhere), bad_message (non-fatal
// unless before "join"), bad_sdp (non-fatal), chat_rate_limited and chat_too_long
// (non-fatal), shutting_down, internal.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// Protocol limits.
const (
	// MaxMessageBytes bounds one signaling frame; an SDP with 3 simulcast layers and
	// audio is about 6 KiB.
	MaxMessageBytes = 64 << 10
	// MaxChatRunes bounds one chat message.
	MaxChatRunes = 2000
	// MaxChatBytes bounds its UTF-8 size, so 2000 accented letters still fit.
	MaxChatBytes  = 4096
	maxTokenBytes = 4096
	maxIDBytes    = 256
)

// Message types.
const (
	TypeJoin        = "join"
	TypeOffer       = "offer"
	TypeAnswer      = "answer"
	TypeCandidate   = "candidate"
	TypeRestart     = "restart"
	TypeLayer       = "layer"
	TypeChat        = "chat"
	TypeLeave       = "leave"
	TypeJoined      = "joined"
	TypeParticipant = "participant"
	TypeError       = "error"
)

// Peer connection names in messages.
const (
	PCPub = "pub"
	PCSub = "sub"
)

// Simulcast layer RIDs, lowest first.
const (
	RIDLow  = "q"
	RIDMid  = "h"
	RIDHigh = "f"
)

// ClientMessage is a decoded client -> server message.
type ClientMessage struct {
	Type      string                   `json:"type"`
	Token     string                   `json:"token,omitempty"`
	Room      string                   `json:"room,omitempty"`
	Session   string                   `json:"session,omitempty"`
	PC        string                   `json:"pc,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Layer     string                   `json:"layer,omitempty"`
	Text      string                   `json:"text,omitempty"`
}

// Participant describes someone in a room.
type Participant struct {
	User string `json:"user"`
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// ServerMessage is a server -> client message.
type ServerMessage struct {
	Type         string                   `json:"type"`
	Session      string                   `json:"session,omitempty"`
	Room         string                   `json:"room,omitempty"`
	Kind         Kind                     `json:"kind,omitempty"`
	Media        Media                    `json:"media,omitempty"`
	Self         *Participant             `json:"self,omitempty"`
	Participants []Participant            `json:"participants,omitempty"`
	Publish      bool                     `json:"publish,omitempty"`
	GraceMs      int64                    `json:"graceMs,omitempty"`
	Participant  *Participant             `json:"participant,omitempty"`
	Joined       bool                     `json:"joined,omitempty"`
	PC           string                   `json:"pc,omitempty"`
	SDP          string                   `json:"sdp,omitempty"`
	Candidate    *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Layer        string                   `json:"layer,omitempty"`
	From         *Participant             `json:"from,omitempty"`
	Text         string                   `json:"text,omitempty"`
	At           string                   `json:"at,omitempty"`
	Code         string                   `json:"code,omitempty"`
	Message      string                   `json:"message,omitempty"`
}

// DecodeClientMessage parses and validates one client frame. It never panics; any
// error is a *RefusalError with code bad_message (chat_too_long for a long chat).
func DecodeClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	if len(b) > MaxMessageBytes {
		return m, badMessage("message larger than %d bytes", MaxMessageBytes)
	}
	if !utf8.Valid(b) {
		return m, badMessage("message is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return m, badMessage("message must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return ClientMessage{}, badMessage("malformed JSON: %v", err)
	}
	if err := m.validate(); err != nil {
		return ClientMessage{}, err
	}
	return m, nil
}

func (m *ClientMessage) validate() error {
	switch m.Type {
	case TypeJoin:
		if m.Token == "" {
			return badMessage("join needs a token")
		}
		if len(m.Token) > maxTokenBytes || len(m.Room) > maxIDBytes || len(m.Session) > maxIDBytes {
			return badMessage("join field too long")
		}
	case TypeOffer:
		if m.PC != PCPub {
			return badMessage(`offer must be for pc "pub"`)
		}
		if m.SDP == "" {
			return badMessage("offer needs an sdp")
		}
	case TypeAnswer:
		if m.PC != PCSub {
			return badMessage(`answer must be for pc "sub"`)
		}
		if m.SDP == "" {
			return badMessage("answer needs an sdp")
		}
	case TypeCandidate:
		if m.PC != PCPub && m.PC != PCSub {
			return badMessage(`candidate needs pc "pub" or "sub"`)
		}
		if m.Candidate == nil {
			return badMessage("candidate needs a candidate object")
		}
	case TypeLayer:
		if layerIndex(m.Layer) < 0 {
			return badMessage(`layer must be "q", "h" or "f"`)
		}
	case TypeChat:
		if m.Text == "" {
			return badMessage("chat needs text")
		}
		if len(m.Text) > MaxChatBytes || utf8.RuneCountInString(m.Text) > MaxChatRunes {
			return Refusef(CodeChatTooLong, "chat longer than %d characters", MaxChatRunes)
		}
	case TypeRestart, TypeLeave:
	case "":
		return badMessage("message needs a type")
	default:
		return badMessage("unknown message type %q", truncate(m.Type, 32))
	}
	return nil
}

// layerIndex maps a RID to 0 (low), 1 (mid), 2 (high), or -1.
func layerIndex(rid string) int {
	switch rid {
	case RIDLow:
		return 0
	case RIDMid:
		return 1
	case RIDHigh:
		return 2
	}
	return -1
}

// layerRID maps 0, 1, 2 to the RID of that layer.
func layerRID(i int) string {
	switch i {
	case 0:
		return RIDLow
	case 1:
		return RIDMid
	}
	return RIDHigh
}

func badMessage(format string, args ...any) error {
	return &RefusalError{Code: CodeBadMessage, Message: fmt.Sprintf(format, args...)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
