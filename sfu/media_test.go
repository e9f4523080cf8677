package sfu

import (
	"fmt"
	"testing"
	"time"
)

// eventWithGuests starts an event room with a publishing host and n guests.
func eventWithGuests(t *testing.T, env *testEnv, n int, opts func(i int) clientOpts) (*client, *publisher, []*client) {
	t.Helper()
	env.admit("host", "ev1", "expert", RoleHost, KindEvent, MediaVideo, 49)
	host := dial(t, env, "host", clientOpts{})
	host.waitJoined(t)
	pub := host.publish(t, true, true, 15)
	guests := make([]*client, n)
	for i := range guests {
		tok := fmt.Sprintf("g%d", i)
		env.admit(tok, "ev1", fmt.Sprintf("client%d", i), RoleGuest, KindEvent, MediaVideo, 49)
		var o clientOpts
		if opts != nil {
			o = opts(i)
		}
		guests[i] = dial(t, env, tok, o)
	}
	for _, g := range guests {
		g.waitJoined(t)
	}
	return host, pub, guests
}

func TestFanOut_CALL2_ExpertSeenByEveryParticipant(t *testing.T) {
	env := newTestEnv(t, Config{})
	_, _, guests := eventWithGuests(t, env, 3, nil)
	t.Cleanup(func() {
		t.Logf("in=%v out=%v dropped=%v", env.counter("atlas11_sfu_packets_in_total"), env.counter("atlas11_sfu_packets_out_total"), env.counter("atlas11_sfu_packets_dropped_total"))
	})
	for i, g := range guests {
		g := g
		t.Cleanup(func() {
			g.mu.Lock()
			st := "nil"
			if g.sub != nil {
				st = g.sub.ConnectionState().String()
			}
			g.mu.Unlock()
			t.Logf("guest %d: sub=%s video=%d audio=%d errs=%v layers=%v", i, st, g.stats("video").count(), g.stats("audio").count(), g.errs, g.layers)
		})
		waitFor(t, 15*time.Second, fmt.Sprintf("guest %d receives video and audio", i), func() bool {
			return g.stats("video").count() > 30 && g.stats("audio").count() > 30
		})
	}
	for i, g := range guests {
		if m := g.stats("video").missing(); m != 0 {
			t.Errorf("guest %d: %d video packets missing", i, m)
		}
		if l := g.lastLayer(); l != RIDHigh {
			t.Errorf("guest %d on layer %q, want top", i, l)
		}
	}
}
