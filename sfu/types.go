package sfu

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Role is a participant's role in a room.
type Role string

// Roles.
const (
	RoleHost  Role = "host"  // the expert
	RoleGuest Role = "guest" // a client
)

// Kind is the kind of call a room carries.
type Kind string

// Kinds.
const (
	KindAppointment Kind = "appointment" // 1:1, both sides publish (APT-2)
	KindEvent       Kind = "event"       // the host publishes, guests watch (EVT-2, CALL-2)
)

// Media is the communication type of a call (APT-1).
type Media string

// Media types.
const (
	MediaVideo Media = "video"
	MediaAudio Media = "audio" // no video is carried
	MediaChat  Media = "chat"  // signaling chat messages only
)

// Admission is what the control plane says about a valid token.
type Admission struct {
	Room, User, Name string
	Role             Role
	Kind             Kind
	Media            Media
	// Capacity is the number of guests the room admits (1 for an appointment,
	// the event's maximum for an event). The host is not counted.
	Capacity int
	// Expires is when the token stops being valid for joining; a participant
	// already in the room stays.
	Expires time.Time
}

// Admitter checks a join token (CALL-1). It returns a *RefusalError for a refusal.
type Admitter interface {
	Admit(ctx context.Context, token string) (Admission, error)
}

// PresenceEvent records one join or leave (CALL-3).
type PresenceEvent struct {
	Room, User string
	Role       Role
	Joined     bool
	At         time.Time
}

// PresenceObserver receives every join and leave, in order per user. A reconnect
// within the grace period emits nothing. Calls must return quickly.
type PresenceObserver interface {
	Presence(PresenceEvent)
}

// Refusal and error codes shared by the Admitter adapter and the signaling.
const (
	CodeTokenInvalid  = "token_invalid"
	CodeTokenExpired  = "token_expired"
	CodeRoomNotOpen   = "room_not_open"
	CodeAccountClosed = "account_closed"
	CodeRoomFull      = "room_full"
	CodeWrongRoom     = "wrong_room"
	CodeNotAllowed    = "not_allowed"
	CodeReplaced      = "replaced"
	CodeBadMessage    = "bad_message"
	CodeBadSDP        = "bad_sdp"
	CodeShuttingDown  = "shutting_down"
	CodeInternal      = "internal"
	// Chat refusals are non-fatal: the message is not relayed, the call goes on.
	CodeChatRateLimited = "chat_rate_limited"
	CodeChatTooLong     = "chat_too_long"
)

// RefusalError is a refusal with a stable code; match it with errors.As, never by text.
type RefusalError struct {
	Code    string
	Message string
}

func (e *RefusalError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Refusef builds a *RefusalError.
func Refusef(code, format string, args ...any) *RefusalError {
	return &RefusalError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal.
func ErrorCode(err error) string {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Code
	}
	return CodeInternal
}

// CloseStatus is the WebSocket close status the server uses for a code; the close
// reason carries the code itself. This is the single code -> status table.
func CloseStatus(code string) int {
	switch code {
	case CodeTokenInvalid:
		return 4001
	case CodeTokenExpired:
		return 4002
	case CodeRoomNotOpen:
		return 4003
	case CodeAccountClosed:
		return 4004
	case CodeRoomFull:
		return 4005
	case CodeWrongRoom:
		return 4006
	case CodeNotAllowed:
		return 4007
	case CodeReplaced:
		return 4008
	case CodeBadMessage:
		return 4009
	case CodeBadSDP:
		return 4010
	case CodeShuttingDown:
		return 4011
	}
	return 4000
}
