package control_test

import (
	"sync"
	"testing"
)

// The session cache must never outlive the store's truth: a session used
// once (and so cached) still ends on sign-out, on expiry and when the
// account is closed (ACC-3).
func TestSessions_ACC3_CachedSessionEndsLikeStoredOne(t *testing.T) {
	e := newEnv(t)
	cl := e.client("Bob")
	use := func(tok string) error {
		t.Helper()
		_, err := e.svc.SessionUser(e.ctx, tok)
		return err
	}

	out, _ := e.svc.CreateSession(e.ctx, cl.ID)
	if err := use(out.Token); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteSession(e.ctx, out.Token); err != nil {
		t.Fatal(err)
	}
	wantCode(t, use(out.Token), "session_invalid")

	exp, _ := e.svc.CreateSession(e.ctx, cl.ID)
	if err := use(exp.Token); err != nil {
		t.Fatal(err)
	}
	closing, _ := e.svc.CreateSession(e.ctx, cl.ID)
	if err := use(closing.Token); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CloseAccount(e.ctx, e.operator().ID, cl.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, use(closing.Token), "account_closed")

	e.at(exp.ExpiresAt)
	wantCode(t, use(exp.Token), "session_invalid")
}

// Lookups racing with a sign-out never bring the session back once
// DeleteSession has returned.
func TestSessions_SignOutWinsOverConcurrentLookups(t *testing.T) {
	e := newEnv(t)
	cl := e.client("Bob")
	for range 20 {
		s, err := e.svc.CreateSession(e.ctx, cl.ID)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				for i := 0; i < 1000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = e.svc.SessionUser(e.ctx, s.Token)
				}
			})
		}
		if err := e.svc.DeleteSession(e.ctx, s.Token); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			_, err := e.svc.SessionUser(e.ctx, s.Token)
			wantCode(t, err, "session_invalid")
		}
		close(stop)
		wg.Wait()
		_, err = e.svc.SessionUser(e.ctx, s.Token)
		wantCode(t, err, "session_invalid")
	}
}
