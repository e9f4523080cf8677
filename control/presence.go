package control

import (
	"context"
	"encoding/json"
	"sort"
	"time"
)

// RecordPresence stores a join or leave in a room (CALL-3). It is called by
// the media server adapter or the internal presence endpoint, which
// authenticate the source; each event is kept, nothing is overwritten.
func (s *Service) RecordPresence(ctx context.Context, ev PresenceEvent) error {
	if ev.Room == "" || len(ev.Room) > 100 {
		return fieldErr("room", "invalid_room", "a room is required")
	}
	if ev.User == "" || len(ev.User) > 100 {
		return fieldErr("user", "invalid_user", "a user is required")
	}
	if ev.At.IsZero() {
		ev.At = s.clock.Now()
	}
	ev.At = ev.At.UTC()
	// A store-wide sequence after the instant keeps arrival order for
	// events at the same instant (a join and a leave in one tick).
	return s.update(func(tx Tx) error {
		seq := getInt(tx, bMeta, "presence_seq") + 1
		if err := putInt(tx, bMeta, "presence_seq", seq); err != nil {
			return err
		}
		key := ev.Room + "/" + tsNano(ev.At) + tsNano(time.Unix(0, seq))
		return putJSON(tx, bPresence, key, ev)
	})
}

func roomEvents(tx Tx, room string) ([]PresenceEvent, error) {
	var evs []PresenceEvent
	err := scanPrefix(tx, bPresence, room+"/", func(_, v []byte) error {
		var ev PresenceEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

// presenceOf merges one user's joins and leaves into intervals clipped to
// [from, until]. Concurrent connections nest (two joins need two leaves), a
// leave without a join is ignored and an open interval ends at until.
func presenceOf(evs []PresenceEvent, room, user string, from, until time.Time) PresenceReport {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	r := PresenceReport{Room: room, User: user, Until: until, Intervals: []Interval{}}
	depth := 0
	var open time.Time
	add := func(a, b time.Time) {
		if a.Before(from) {
			a = from
		}
		if b.After(until) {
			b = until
		}
		if !b.After(a) {
			return
		}
		if n := len(r.Intervals); n > 0 && !a.After(r.Intervals[n-1].To) {
			if b.After(r.Intervals[n-1].To) {
				r.Intervals[n-1].To = b
			}
			return
		}
		r.Intervals = append(r.Intervals, Interval{From: a, To: b})
	}
	for _, ev := range evs {
		if ev.User != user || ev.At.After(until) {
			continue
		}
		if ev.Joined {
			if depth == 0 {
				open = ev.At
			}
			depth++
			continue
		}
		if depth == 0 {
			continue
		}
		depth--
		if depth == 0 {
			add(open, ev.At)
		}
	}
	if depth > 0 {
		add(open, until)
	}
	for _, iv := range r.Intervals {
		r.Total += iv.To.Sub(iv.From)
	}
	return r
}

// expertPresence is the expert's presence in a booking's room during its
// opening window, read by settlement (APT-7, EVT-6) and claims (CALL-3).
func expertPresence(tx Tx, room, expertID string, start, end time.Time, opens time.Duration, now time.Time) (PresenceReport, error) {
	evs, err := roomEvents(tx, room)
	if err != nil {
		return PresenceReport{}, err
	}
	until := end
	if now.Before(until) {
		until = now
	}
	return presenceOf(evs, room, expertID, start.Add(-opens), until), nil
}

// roomParties returns the expert of a room and whether user is a party to
// it (the expert, the booked client, or a registered client).
func roomParties(tx Tx, room, user string) (expertID string, party bool, err error) {
	if b, err := loadBooking(tx, room); err == nil && b.Kind == KindAppointment {
		return b.ExpertID, user == b.ExpertID || user == b.ClientID, nil
	}
	e, err := loadEvent(tx, room)
	if err != nil {
		return "", false, Errorf(NotFound, "room_not_found", "no such room")
	}
	return e.ExpertID, user == e.ExpertID || tx.Get(bEventRegs, []byte(e.ID+"/"+user)) != nil, nil
}

// Presence returns a user's merged presence in a room up to now: to the
// room's expert, its clients and operators.
func (s *Service) Presence(ctx context.Context, actorID, room, userID string) (PresenceReport, error) {
	now := s.clock.Now()
	var r PresenceReport
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		_, party, err := roomParties(tx, room, u.ID)
		if err != nil {
			return err
		}
		if !party && u.Role != RoleOperator {
			return Errorf(NotFound, "room_not_found", "no such room")
		}
		evs, err := roomEvents(tx, room)
		if err != nil {
			return err
		}
		r = presenceOf(evs, room, userID, time.Time{}, now)
		return nil
	})
	return r, err
}
