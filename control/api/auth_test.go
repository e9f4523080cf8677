package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

func sessionCookieOf(t *testing.T, r *resp) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie || c.Name == secureSessionCookie {
			return c
		}
	}
	t.Fatalf("%s: no session cookie set", r.what)
	return nil
}

func TestAuth_ACC1_SignUpClientAndExpertFreeWithSafeCookie(t *testing.T) {
	e := newEnv(t)
	for _, role := range []control.Role{control.RoleClient, control.RoleExpert} {
		u := e.anon()
		r := u.post("/auth/signup", map[string]any{"email": "  New." + string(role) + "@Atlas11.test ",
			"password": "long enough pw", "name": "N", "role": role}).want(http.StatusCreated)
		c := sessionCookieOf(t, r)
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
			t.Fatalf("cookie flags: %+v", c)
		}
		var me meView
		u.get("/me").want(http.StatusOK).decode(&me)
		if me.User.Role != role || me.User.Email != "new."+string(role)+"@atlas11.test" || me.SupportEmail != "help@atlas11.test" {
			t.Fatalf("me: %+v", me)
		}
		if strings.Contains(string(u.get("/me").body), "argon2") {
			t.Fatal("the password hash leaks")
		}
	}
	// ACC-1: becoming an expert is free: no charge at all.
	if n := len(e.gw.Calls()); n != 0 {
		t.Fatalf("sign-up moved money: %d gateway calls", n)
	}
	// Same email again: 409, whatever the case.
	e.anon().post("/auth/signup", map[string]any{"email": "new.client@atlas11.test", "password": "long enough pw",
		"name": "N", "role": "client"}).wantErr(http.StatusConflict, "email_taken")
}

func TestAuth_ACC1_OperatorsAreNotCreatedByTheAPI(t *testing.T) {
	e := newEnv(t)
	e.anon().post("/auth/signup", map[string]any{"email": "o@atlas11.test", "password": "long enough pw",
		"name": "O", "role": "operator"}).wantErr(http.StatusBadRequest, "invalid_role", "role")
	e.anon().post("/auth/signup", map[string]any{"email": "o@atlas11.test", "password": "short",
		"name": "O", "role": "client"}).wantErr(http.StatusBadRequest, "weak_password", "password")
}

func TestAuth_SecureCookieWhenConfigured(t *testing.T) {
	e := newEnv(t, withSecureCookies())
	r := e.anon().post("/auth/signup", map[string]any{"email": "s@atlas11.test", "password": "long enough pw",
		"name": "S", "role": "client"}).want(http.StatusCreated)
	if c := sessionCookieOf(t, r); c.Name != secureSessionCookie || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("cookie flags: %+v", c)
	}
}

// Through the real handler in both modes, as a client sending cookies by
// hand would: the session works under the mode's name only, and sign-out
// reads that name, ends the session server-side and clears the cookie under
// the same name and attributes (a __Host- cookie is only replaced by one
// with Secure and Path=/).
func TestAuth_SessionCookieNamePerModeAndSignOut(t *testing.T) {
	for _, tc := range []struct {
		name, other string
		secure      bool
		opts        []envOpt
	}{
		{sessionCookie, secureSessionCookie, false, nil},
		{secureSessionCookie, sessionCookie, true, []envOpt{withSecureCookies()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			bare := &user{e: e, hc: &http.Client{Timeout: 30 * time.Second}} // no jar: cookies by hand
			c := sessionCookieOf(t, bare.post("/auth/signup", map[string]any{"email": "m@atlas11.test",
				"password": "long enough pw", "name": "M", "role": "client"}).want(http.StatusCreated))
			if c.Name != tc.name || c.Secure != tc.secure {
				t.Fatalf("session cookie %+v, want %s Secure=%v", c, tc.name, tc.secure)
			}
			bare.do("GET", "/me", nil, "Cookie", tc.name+"="+c.Value).want(http.StatusOK)
			bare.do("GET", "/me", nil, "Cookie", tc.other+"="+c.Value).wantErr(http.StatusUnauthorized, "not_signed_in")

			// Sign-out under the other name leaves the session alone.
			bare.do("POST", "/auth/signout", nil, "Cookie", tc.other+"="+c.Value).want(http.StatusNoContent)
			bare.do("GET", "/me", nil, "Cookie", tc.name+"="+c.Value).want(http.StatusOK)

			r := bare.do("POST", "/auth/signout", nil, "Cookie", tc.name+"="+c.Value).want(http.StatusNoContent)
			cl := sessionCookieOf(t, r)
			if cl.Name != tc.name || cl.Value != "" || cl.MaxAge >= 0 || cl.Secure != tc.secure || cl.Path != "/" || cl.Domain != "" {
				t.Fatalf("sign-out cookie %+v, want %s cleared with Secure=%v, Path=/, no Domain", cl, tc.name, tc.secure)
			}
			// The token itself is dead, not merely forgotten by the client.
			bare.do("GET", "/me", nil, "Cookie", tc.name+"="+c.Value).wantErr(http.StatusUnauthorized, "session_invalid")
		})
	}
}

func TestAuth_SignInSignOutAndUnauthenticated(t *testing.T) {
	e := newEnv(t)
	e.signUp(control.RoleClient)
	u := e.anon()
	u.get("/me").wantErr(http.StatusUnauthorized, "not_signed_in")
	u.post("/auth/signin", map[string]any{"email": "client1@atlas11.test", "password": "wrong password"}).
		wantErr(http.StatusUnauthorized, "invalid_credentials")
	u.post("/auth/signin", map[string]any{"email": "nobody@atlas11.test", "password": "wrong password"}).
		wantErr(http.StatusUnauthorized, "invalid_credentials")
	u.post("/auth/signin", map[string]any{"email": "CLIENT1@atlas11.test", "password": "correct horse battery"}).want(http.StatusOK)
	u.get("/me").want(http.StatusOK)
	u.post("/auth/signout", nil).want(http.StatusNoContent)
	u.get("/me").wantErr(http.StatusUnauthorized, "not_signed_in")
	// A forged or stale cookie is refused, not a 500.
	req, _ := http.NewRequest("GET", e.srv.URL+Prefix+"/me", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %d", res.StatusCode)
	}
}

func TestAuth_CrossSiteStateChangeRefused(t *testing.T) {
	e := newEnv(t)
	c := e.signUp(control.RoleExpert)
	body := map[string]any{"start": t0.Add(72 * time.Hour), "minutes": 60, "price_cents": 2000, "media": []string{"video"}}
	before := e.snapshot(c.id, c.id)
	c.post("/me/slots", body, "Sec-Fetch-Site", "cross-site").wantErr(http.StatusForbidden, "cross_site")
	c.post("/me/slots", body, "Sec-Fetch-Site", "same-site").wantErr(http.StatusForbidden, "cross_site")
	c.post("/me/slots", body, "Origin", "https://evil.example").wantErr(http.StatusForbidden, "cross_site")
	c.post("/auth/signout", nil, "Sec-Fetch-Site", "cross-site").wantErr(http.StatusForbidden, "cross_site")
	assertUnchanged(t, before, e.snapshot(c.id, c.id))
	// Reads stay possible cross-site (public pages are shareable links, ACC-2).
	c.do("GET", "/me", nil, "Sec-Fetch-Site", "cross-site").want(http.StatusOK)
	// The same request from the app itself goes through.
	c.post("/me/slots", body, "Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL).want(http.StatusCreated)
}

func TestAuth_FailedSignInsRateLimitedPerEmailAndIP(t *testing.T) {
	e := newEnv(t)
	e.signUp(control.RoleClient) // client1@
	u := e.anon()
	bad := map[string]any{"email": "client1@atlas11.test", "password": "not the password"}
	for range 5 {
		u.post("/auth/signin", bad).wantErr(http.StatusUnauthorized, "invalid_credentials")
	}
	r := u.post("/auth/signin", bad).wantErr(http.StatusTooManyRequests, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Even the right password waits: guessing cannot continue.
	good := map[string]any{"email": "client1@atlas11.test", "password": "correct horse battery"}
	u.post("/auth/signin", good).wantErr(http.StatusTooManyRequests, "too_many_attempts")
	// The bucket refills with the (injected) clock, no sleeping.
	if _, err := e.clock.Advance(time.Minute); err != nil {
		t.Fatal(err)
	}
	u.post("/auth/signin", good).want(http.StatusOK)

	// Per IP: many emails from one address hit the IP bucket (20).
	for i := range 20 {
		u.post("/auth/signin", map[string]any{"email": "x" + string(rune('a'+i)) + "@atlas11.test", "password": "nope nope nope"}).
			wantErr(http.StatusUnauthorized, "invalid_credentials")
	}
	u.post("/auth/signin", map[string]any{"email": "y@atlas11.test", "password": "nope nope nope"}).
		wantErr(http.StatusTooManyRequests, "too_many_attempts")
}

func TestAuth_RoleGuards(t *testing.T) {
	e := newEnv(t)
	cl := e.signUp(control.RoleClient)
	ex := e.signUp(control.RoleExpert)
	cl.post("/me/slots", map[string]any{"start": t0.Add(72 * time.Hour), "minutes": 60, "price_cents": 2000,
		"media": []string{"video"}}).wantErr(http.StatusForbidden, "role_required")
	ex.post("/bookings", map[string]any{"slot_id": "x"}, "Idempotency-Key", "k").wantErr(http.StatusForbidden, "role_required")
	cl.get("/operator/flags").wantErr(http.StatusForbidden, "role_required")
	ex.get("/operator/settings").wantErr(http.StatusForbidden, "role_required")
	e.anon().get("/operator/settings").wantErr(http.StatusUnauthorized, "not_signed_in")
}

func TestInternalPresence_RequiresSecret(t *testing.T) {
	e := newEnv(t)
	u := e.anon()
	ev := map[string]any{"room": "r", "user": "u", "joined": true}
	u.post("/internal/presence", ev).wantErr(http.StatusUnauthorized, "bad_internal_secret")
	u.post("/internal/presence", ev, "Authorization", "Bearer wrong").wantErr(http.StatusUnauthorized, "bad_internal_secret")
	u.post("/internal/presence", ev, "Authorization", "Bearer "+testSecret).want(http.StatusNoContent)

	off := newEnv(t, func(d *Deps) { d.InternalSecret = "" })
	off.anon().post("/internal/presence", ev, "Authorization", "Bearer ").wantErr(http.StatusNotFound, "internal_disabled")
}

func TestSimClock_RefusedUnlessEnabled(t *testing.T) {
	e := newEnv(t, withoutSim())
	op := e.operator()
	op.post("/sim/clock", map[string]any{"advance": "90m"}).wantErr(http.StatusNotFound, "sim_clock_disabled")
	op.get("/sim/clock").wantErr(http.StatusNotFound, "sim_clock_disabled")
	if now := e.clock.Now(); !now.Equal(t0) {
		t.Fatalf("clock moved to %v", now)
	}

	s := newEnv(t)
	sop := s.operator()
	s.signUp(control.RoleClient).post("/sim/clock", map[string]any{"advance": "1h"}).wantErr(http.StatusForbidden, "role_required")
	var v simClockView
	sop.post("/sim/clock", map[string]any{"advance": "90m"}).want(http.StatusOK).decode(&v)
	if !v.Now.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("now %v", v.Now)
	}
	sop.post("/sim/clock", map[string]any{"set": t0.Add(48 * time.Hour)}).want(http.StatusOK).decode(&v)
	if !v.Now.Equal(t0.Add(48 * time.Hour)) {
		t.Fatalf("now %v", v.Now)
	}
	sop.post("/sim/clock", map[string]any{"set": t0}).wantErr(http.StatusBadRequest, "clock_backwards")
	sop.post("/sim/clock", map[string]any{"advance": "-1h"}).wantErr(http.StatusBadRequest, "clock_backwards")
	sop.post("/sim/clock", map[string]any{"advance": "soon"}).wantErr(http.StatusBadRequest, "invalid_duration", "advance")
	sop.post("/sim/clock", map[string]any{}).wantErr(http.StatusBadRequest, "one_of_advance_set")
}
