package sfu

import (
	"testing"
	"time"
)

// presentFor sums how long user was present from the presence events (what
// the control plane does with them for EVT-6 and APT-7).
func presentFor(events []PresenceEvent, user string) (total time.Duration, joined bool) {
	var since time.Time
	in := false
	for _, e := range events {
		if e.User != user {
			continue
		}
		switch {
		case e.Joined && !in:
			since, in, joined = e.At, true, true
		case !e.Joined && in:
			total += e.At.Sub(since)
			in = false
		}
	}
	return total, joined
}

// memberLost reports whether the server has seen user's connection drop.
func (env *testEnv) memberLost(room, user string) bool {
	env.srv.mu.Lock()
	r := env.srv.rooms[room]
	env.srv.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[user]
	return m != nil && m.sess == nil
}

func presenceEnv(t *testing.T) *testEnv {
	env := newTestEnv(t, Config{ReconnectGrace: 5 * time.Second, SelectInterval: 20 * time.Millisecond})
	env.admit("host", "ev1", "expert", RoleHost, KindEvent, MediaChat, 10)
	env.admit("guest", "ev1", "client", RoleGuest, KindEvent, MediaChat, 10)
	return env
}

func (env *testEnv) waitEvents(t *testing.T, n int) []PresenceEvent {
	t.Helper()
	waitFor(t, 5*time.Second, "presence events", func() bool { return len(env.presence.snapshot()) >= n })
	return env.presence.snapshot()
}

func TestPresence_EVT6_ExpertFourMinutesNoClientCharged(t *testing.T) {
	env := presenceEnv(t)
	t0 := env.clock.Now()
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	env.clock.Advance(4 * time.Minute)
	host.send(ClientMessage{Type: TypeLeave})
	ev := env.waitEvents(t, 2)
	if !ev[0].Joined || !ev[0].At.Equal(t0) || ev[0].Role != RoleHost || ev[0].Room != "ev1" || ev[1].Joined || !ev[1].At.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("events %+v", ev)
	}
	if d, _ := presentFor(ev, "expert"); d >= 5*time.Minute {
		t.Fatalf("expert present %v: clients would be charged", d)
	}
}

func TestPresence_EVT6_ExpertSixMinutesAcrossALostConnectionAllCharged(t *testing.T) {
	env := presenceEnv(t)
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	env.clock.Advance(3 * time.Minute)
	host.close() // network gone, no leave message
	waitFor(t, 5*time.Second, "loss noticed", func() bool { return env.memberLost("ev1", "expert") })
	env.clock.Advance(6 * time.Second) // past the 5 s grace
	ev := env.waitEvents(t, 2)
	if ev[1].Joined || !ev[1].At.Equal(ev[0].At.Add(3*time.Minute)) {
		t.Fatalf("leave should be recorded when the connection was lost: %+v", ev)
	}
	back := dial(t, env, "host", clientOpts{})
	back.waitJoined(t)
	env.clock.Advance(3 * time.Minute)
	back.send(ClientMessage{Type: TypeLeave})
	ev = env.waitEvents(t, 4)
	if d, _ := presentFor(ev, "expert"); d < 5*time.Minute || d != 6*time.Minute {
		t.Fatalf("expert present %v, want 6m (everyone charged)", d)
	}
}

// A reconnect within the grace period keeps presence continuous: no leave/join pair.
func TestPresence_CALL3_ReconnectWithinGraceIsContinuous(t *testing.T) {
	env := presenceEnv(t)
	host := dial(t, env, "host", clientOpts{})
	j := host.waitJoined(t)
	guest := dial(t, env, "guest", clientOpts{})
	guest.waitJoined(t)
	env.clock.Advance(2 * time.Minute)
	host.close()
	waitFor(t, 5*time.Second, "loss noticed", func() bool { return env.memberLost("ev1", "expert") })
	env.clock.Advance(3 * time.Second)
	time.Sleep(100 * time.Millisecond) // several sweeps run: none may end the presence
	again := dial(t, env, "host", clientOpts{})
	j2 := again.waitJoined(t)
	if j2.Session == j.Session {
		t.Fatal("a new connection gets a new session id")
	}
	env.clock.Advance(10 * time.Second) // well past the grace: the new session is live
	time.Sleep(100 * time.Millisecond)
	ev := env.presence.snapshot()
	for _, e := range ev {
		if e.User == "expert" && !e.Joined {
			t.Fatalf("leave emitted across a reconnect within grace: %+v", ev)
		}
	}
	if n := len(ev); n != 2 {
		t.Fatalf("events %+v, want the two joins only", ev)
	}
	// Takeover: the same user joining from a second tab replaces the first.
	third := dial(t, env, "host", clientOpts{})
	third.waitJoined(t)
	if status, reason := again.closeStatus(t); reason != CodeReplaced || int(status) != CloseStatus(CodeReplaced) {
		t.Fatalf("replaced session closed with %d %q", status, reason)
	}
	if n := len(env.presence.snapshot()); n != 2 {
		t.Fatalf("takeover emitted presence events")
	}
}

// APT-7: an expert who joined a 1:1 appointment started it (full price,
// whatever the length); one who never joined did not.
func TestPresence_APT7_ExpertJoinRecorded(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.admit("exp", "apt1", "expert", RoleHost, KindAppointment, MediaChat, 1)
	env.admit("cli", "apt1", "client", RoleGuest, KindAppointment, MediaChat, 1)
	env.admit("cli2", "apt2", "client", RoleGuest, KindAppointment, MediaChat, 1)
	e := dial(t, env, "exp", clientOpts{})
	e.waitJoined(t)
	c := dial(t, env, "cli", clientOpts{})
	c.waitJoined(t)
	env.clock.Advance(30 * time.Second)
	e.send(ClientMessage{Type: TypeLeave})
	alone := dial(t, env, "cli2", clientOpts{})
	alone.waitJoined(t)
	ev := env.waitEvents(t, 4)
	var aptJoined, apt2Expert bool
	for _, x := range ev {
		if x.Room == "apt1" && x.User == "expert" && x.Joined && x.Role == RoleHost {
			aptJoined = true
		}
		if x.Room == "apt2" && x.Role == RoleHost {
			apt2Expert = true
		}
	}
	if !aptJoined || apt2Expert {
		t.Fatalf("events %+v", ev)
	}
	// The client is told the expert arrived and left.
	waitFor(t, 5*time.Second, "participant notices", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.parts {
			if m.Type == TypeParticipant && !m.Joined && m.Participant != nil && m.Participant.User == "expert" {
				return true
			}
		}
		return false
	})
}

// Shutdown ends everyone's presence at the shutdown time and tells the clients.
func TestPresence_CALL3_ShutdownRecordsLeaves(t *testing.T) {
	env := presenceEnv(t)
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	guest := dial(t, env, "guest", clientOpts{})
	guest.waitJoined(t)
	env.clock.Advance(time.Minute)
	if err := env.srv.Close(); err != nil {
		t.Fatal(err)
	}
	ev := env.presence.snapshot()
	left := 0
	for _, e := range ev {
		if !e.Joined && e.At.Equal(env.clock.Now()) {
			left++
		}
	}
	if left != 2 {
		t.Fatalf("events %+v, want two leaves at shutdown", ev)
	}
	if _, reason := host.closeStatus(t); reason != CodeShuttingDown {
		t.Fatalf("close reason %q", reason)
	}
}

// firstSource returns a source published by user in room.
func (s *Server) firstSource(room, user string) *source {
	s.mu.Lock()
	r := s.rooms[room]
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, src := range r.sources {
		if src.owner == user && src.kind.String() == "video" {
			return src
		}
	}
	return nil
}
