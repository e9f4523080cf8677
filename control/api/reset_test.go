package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"atlas11/control"
)

// resetLink reads the newest reset link queued for userID straight from the
// store's outbox, as the mail would carry it.
func (e *env) resetLink(userID string) string {
	e.t.Helper()
	var newest control.Notice
	if err := e.db.View(func(tx control.Tx) error {
		return tx.Scan("notices", nil, nil, func(_, v []byte) error {
			var n control.Notice
			if json.Unmarshal(v, &n) == nil && n.Kind == control.NoticePasswordReset && n.UserID == userID &&
				!n.CreatedAt.Before(newest.CreatedAt) && n.Path != "" {
				newest = n
			}
			return nil
		})
	}); err != nil {
		e.t.Fatal(err)
	}
	token, ok := strings.CutPrefix(newest.Path, "/reset/")
	if !ok {
		e.t.Fatalf("no reset link queued for %s", userID)
	}
	return token
}

// A forgotten password: the link is mailed (and hidden from operators),
// works once and for an hour, sets a password that passes the policy, ends
// every other session, and requests cannot flood an inbox or tell which
// addresses have accounts.
func TestReset_SingleUseShortLivedEndsSessionsAndIsRateLimited(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	cl := e.signUp(control.RoleClient)
	email := "client1@atlas11.test"
	other := e.anon()
	other.post("/auth/signin", map[string]any{"email": email, "password": "correct horse battery"}).want(http.StatusOK)

	anon := e.anon()
	anon.post("/auth/password-reset", map[string]any{"email": "nobody@atlas11.test"}).want(http.StatusAccepted)
	anon.post("/auth/password-reset", map[string]any{"email": " Client1@Atlas11.test "}).want(http.StatusAccepted)
	anon.post("/auth/password-reset", map[string]any{"email": ""}).wantErr(http.StatusBadRequest, "email_required")
	token := e.resetLink(cl.id)

	var ns []control.Notice
	op.get("/operator/notices").want(http.StatusOK).decode(&ns)
	for _, n := range ns {
		if n.Kind == control.NoticePasswordReset && strings.Contains(n.Path, token) {
			t.Fatal("an operator can read a reset link")
		}
	}

	anon.post("/auth/password-reset/confirm", map[string]any{"token": token, "password": "password"}).
		wantErr(http.StatusBadRequest, "weak_password")
	anon.post("/auth/password-reset/confirm", map[string]any{"token": "x" + token, "password": "a brand new passphrase"}).
		wantErr(http.StatusBadRequest, "reset_token_invalid")
	var me meView
	anon.post("/auth/password-reset/confirm", map[string]any{"token": token, "password": "a brand new passphrase"}).
		want(http.StatusOK).decode(&me)
	if me.User.ID != cl.id {
		t.Fatalf("signed in as %+v", me.User)
	}
	anon.get("/me").want(http.StatusOK)
	cl.get("/me").wantErr(http.StatusUnauthorized, "session_invalid")
	other.get("/me").wantErr(http.StatusUnauthorized, "session_invalid")
	anon.post("/auth/password-reset/confirm", map[string]any{"token": token, "password": "yet another passphrase"}).
		wantErr(http.StatusBadRequest, "reset_token_invalid")
	e.anon().post("/auth/signin", map[string]any{"email": email, "password": "correct horse battery"}).
		wantErr(http.StatusUnauthorized, "invalid_credentials")
	e.anon().post("/auth/signin", map[string]any{"email": email, "password": "a brand new passphrase"}).want(http.StatusOK)

	// An hour later a link no longer works.
	anon.post("/auth/password-reset", map[string]any{"email": email}).want(http.StatusAccepted)
	late := e.resetLink(cl.id)
	op.post("/sim/clock", map[string]any{"advance": "61m"}).want(http.StatusOK)
	anon.post("/auth/password-reset/confirm", map[string]any{"token": late, "password": "a later passphrase"}).
		wantErr(http.StatusBadRequest, "reset_token_invalid")

	// Three requests per address per ten minutes.
	for range 3 {
		e.anon().post("/auth/password-reset", map[string]any{"email": "flood@atlas11.test"}).want(http.StatusAccepted)
	}
	r := e.anon().post("/auth/password-reset", map[string]any{"email": "flood@atlas11.test"})
	r.wantErr(http.StatusTooManyRequests, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}
