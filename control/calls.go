package control

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// roomGrant computes what user may do in room at now (CALL-1).
func roomGrant(tx Tx, st Settings, room string, u User, now time.Time) (CallGrant, error) {
	g := CallGrant{Room: room, UserID: u.ID, Name: u.Name}
	var start, end time.Time
	var opens time.Duration
	if b, err := loadBooking(tx, room); err == nil && b.Kind == KindAppointment {
		if u.ID != b.ClientID && u.ID != b.ExpertID {
			return g, Errorf(Forbidden, "not_a_participant", "only the booked client and the expert may join")
		}
		if b.Status == StatusCompleted {
			return g, Errorf(Rule, "room_not_open", "this appointment has ended")
		}
		if b.Status != StatusConfirmed {
			return g, Errorf(Rule, "booking_not_active", "this appointment is %s", b.Status)
		}
		g.Kind, g.Media, g.Capacity = KindAppointment, b.Media, 2
		start, end, opens = b.Start, b.End, b.Policy.RoomOpensBefore
		if u.ID == b.ExpertID {
			g.Role = "expert"
		} else {
			g.Role = "client"
		}
	} else {
		e, err := loadEvent(tx, room)
		if err != nil {
			return g, Errorf(NotFound, "room_not_found", "no such room")
		}
		switch {
		case u.ID == e.ExpertID:
			g.Role = "expert"
		default:
			regID := tx.Get(bEventRegs, []byte(e.ID+"/"+u.ID))
			if regID == nil {
				return g, Errorf(Forbidden, "not_a_participant", "only registered clients and the expert may join")
			}
			b, err := loadBooking(tx, string(regID))
			if err != nil {
				return g, err
			}
			if b.Status != StatusConfirmed {
				return g, Errorf(Rule, "booking_not_active", "this registration is %s", b.Status)
			}
			g.Role = "client"
		}
		if e.Status == EventCompleted {
			return g, Errorf(Rule, "room_not_open", "this event has ended")
		}
		if e.Status != EventScheduled {
			return g, Errorf(Rule, "event_not_open", "this event is %s", e.Status)
		}
		g.Kind, g.Media, g.Capacity = KindRegistration, MediaVideo, e.MaxParticipants+1
		start, end, opens = e.Start, e.End, e.Policy.RoomOpensBefore
	}
	g.OpensAt, g.ClosesAt = start.Add(-opens), end
	if now.Before(g.OpensAt) || !now.Before(g.ClosesAt) {
		return g, Errorf(Rule, "room_not_open", "the room opens %s before the start and closes at the end", opens)
	}
	return g, nil
}

func (s *Service) sign(payload []byte) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// MintCallToken issues a short-lived signed token to join a room (CALL-1):
// only the booked client or registered clients and the expert, from
// RoomOpensBefore the start until the scheduled end.
func (s *Service) MintCallToken(ctx context.Context, userID, room string) (CallToken, error) {
	st := s.Settings()
	now := s.clock.Now()
	var g CallGrant
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, userID)
		if err != nil {
			return err
		}
		g, err = roomGrant(tx, st, room, u, now)
		return err
	})
	if err != nil {
		return CallToken{}, err
	}
	g.ExpiresAt = now.Add(st.CallTokenTTL)
	if g.ExpiresAt.After(g.ClosesAt) {
		g.ExpiresAt = g.ClosesAt
	}
	payload, err := json.Marshal(g)
	if err != nil {
		return CallToken{}, internal(err)
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return CallToken{Token: p + "." + s.sign([]byte(p)), ExpiresAt: g.ExpiresAt, Grant: g}, nil
}

// AdmitCall verifies a call token: signature, expiry, account still open,
// booking still active and room open.
func (s *Service) AdmitCall(ctx context.Context, token string) (CallGrant, error) {
	st := s.Settings()
	now := s.clock.Now()
	invalid := Errorf(Unauthorized, "token_invalid", "the call token is not valid")
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 || !hmac.Equal([]byte(sig), []byte(s.sign([]byte(p)))) {
		return CallGrant{}, invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return CallGrant{}, invalid
	}
	var g CallGrant
	if err := json.Unmarshal(raw, &g); err != nil {
		return CallGrant{}, invalid
	}
	if !now.Before(g.ExpiresAt) {
		return CallGrant{}, Errorf(Unauthorized, "token_expired", "the call token has expired, ask for a new one")
	}
	err = s.view(func(tx Tx) error {
		u, err := actor(tx, g.UserID)
		if err != nil {
			return err
		}
		_, err = roomGrant(tx, st, g.Room, u, now)
		return err
	})
	if err != nil {
		return CallGrant{}, err
	}
	return g, nil
}
