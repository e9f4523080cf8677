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

// verifyLink reads the newest verification link of kind for userID from
// the store's outbox.
func (e *env) verifyLink(userID string, kind control.NoticeKind) (token, to string) {
	e.t.Helper()
	var newest control.Notice
	if err := e.db.View(func(tx control.Tx) error {
		return tx.Scan("notices", nil, nil, func(_, v []byte) error {
			var n control.Notice
			if json.Unmarshal(v, &n) == nil && n.Kind == kind && n.UserID == userID && n.Path != "" &&
				!n.CreatedAt.Before(newest.CreatedAt) {
				newest = n
			}
			return nil
		})
	}); err != nil {
		e.t.Fatal(err)
	}
	token, ok := strings.CutPrefix(newest.Path, "/verify/")
	if !ok {
		e.t.Fatalf("no %s link for %s", kind, userID)
	}
	return token, newest.Email
}

// Sign-up mails a link proving the address; moving an account to another
// address needs the password and happens only once the new address is
// proved, with the old one told; a taken address is refused.
func TestVerify_SignupAddressAndEmailChange(t *testing.T) {
	e := newEnv(t)
	cl := e.signUp(control.RoleClient)
	e.signUp(control.RoleClient) // client2@atlas11.test
	var me meView
	cl.get("/me").want(http.StatusOK).decode(&me)
	if me.User.Verified {
		t.Fatal("verified before following the link")
	}
	token, to := e.verifyLink(cl.id, control.NoticeEmailVerify)
	if to != "client1@atlas11.test" {
		t.Fatalf("verification sent to %s", to)
	}
	e.anon().post("/auth/verify-email", map[string]any{"token": token}).want(http.StatusOK).decode(&me)
	if !me.User.Verified {
		t.Fatal("not verified after following the link")
	}
	e.anon().post("/auth/verify-email", map[string]any{"token": token}).wantErr(http.StatusBadRequest, "verify_token_invalid")

	cl.post("/me/email", map[string]any{"email": "new@atlas11.test", "password": "wrong password here"}).wantErr(http.StatusBadRequest, "wrong_password")
	cl.post("/me/email", map[string]any{"email": "client2@atlas11.test", "password": "correct horse battery"}).wantErr(http.StatusConflict, "email_taken")
	cl.post("/me/email", map[string]any{"email": "not an address", "password": "correct horse battery"}).wantErr(http.StatusBadRequest, "invalid_email")
	cl.post("/me/email", map[string]any{"email": "New@Atlas11.test", "password": "correct horse battery"}).want(http.StatusAccepted)
	cl.get("/me").want(http.StatusOK).decode(&me)
	if me.User.Email != "client1@atlas11.test" {
		t.Fatalf("address changed before the new one was proved: %s", me.User.Email)
	}
	token, to = e.verifyLink(cl.id, control.NoticeEmailChange)
	if to != "new@atlas11.test" {
		t.Fatalf("change link sent to %s", to)
	}
	e.anon().post("/auth/verify-email", map[string]any{"token": token}).want(http.StatusOK)
	cl.get("/me").want(http.StatusOK).decode(&me)
	if me.User.Email != "new@atlas11.test" {
		t.Fatalf("address after the change: %s", me.User.Email)
	}
	e.anon().post("/auth/signin", map[string]any{"email": "new@atlas11.test", "password": "correct horse battery"}).want(http.StatusOK)
	e.anon().post("/auth/signin", map[string]any{"email": "client1@atlas11.test", "password": "correct horse battery"}).
		wantErr(http.StatusUnauthorized, "invalid_credentials")
	var told bool
	_ = e.db.View(func(tx control.Tx) error {
		return tx.Scan("notices", nil, nil, func(_, v []byte) error {
			var n control.Notice
			if json.Unmarshal(v, &n) == nil && n.Kind == control.NoticeEmailChanged && n.Email == "client1@atlas11.test" && n.Message == "new@atlas11.test" {
				told = true
			}
			return nil
		})
	})
	if !told {
		t.Fatal("the old address was not told of the change")
	}
}
