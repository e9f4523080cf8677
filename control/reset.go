package control

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Password reset: a single-use token, valid for an hour, mailed to the
// account's address; using it sets the new password and ends every session
// of the account. Only the token's hash is stored.

// ResetTokenTTL is how long a reset link works.
const ResetTokenTTL = time.Hour

// NoticePasswordReset carries the reset link (essential: always sent).
const NoticePasswordReset NoticeKind = "password_reset"

type resetToken struct {
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RequestPasswordReset mails a reset link to the account of email, if there
// is an open one. It says nothing either way, so that nobody learns from it
// which addresses have accounts.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	now := s.clock.Now()
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	return s.update(func(tx Tx) error {
		id := tx.Get(bEmails, []byte(email))
		if id == nil {
			return nil
		}
		u, err := loadUser(tx, string(id))
		if err != nil || u.Closed {
			return nil
		}
		key := string(sessionKey(token))
		if err := putJSON(tx, bResets, key, resetToken{UserID: u.ID, ExpiresAt: now.Add(ResetTokenTTL)}); err != nil {
			return err
		}
		if err := addDue(tx, now.Add(ResetTokenTTL), dueReset, key); err != nil { // cleans it up
			return err
		}
		n := Notice{Kind: NoticePasswordReset, ID: string(NoticePasswordReset) + "." + u.ID + "." + key[:16],
			Path: "/reset/" + token, Secret: true, End: now.Add(ResetTokenTTL)}
		if err := recipient(tx, u.ID, &n); err != nil {
			return err
		}
		return notify(tx, now, n)
	})
}

// ResetTokenUser is the account a valid reset token belongs to, for the
// new password to be checked against its e-mail and name before hashing.
func (s *Service) ResetTokenUser(ctx context.Context, token string) (User, error) {
	now := s.clock.Now()
	var u User
	err := s.view(func(tx Tx) error {
		var err error
		u, _, err = validReset(tx, now, token)
		return err
	})
	return u, err
}

func validReset(tx Tx, now time.Time, token string) (User, string, error) {
	invalid := fieldErr("token", "reset_token_invalid", "this reset link is invalid or has expired: ask for a new one")
	if token == "" || len(token) > 64 {
		return User{}, "", invalid
	}
	key := string(sessionKey(token))
	var rt resetToken
	ok, err := getJSON(tx, bResets, key, &rt)
	if err != nil || !ok || !now.Before(rt.ExpiresAt) {
		return User{}, "", invalid
	}
	u, err := loadUser(tx, rt.UserID)
	if err != nil || u.Closed {
		return User{}, "", invalid
	}
	return u, key, nil
}

// ResetPassword sets the password hash of the token's account, spends the
// token and ends every session of the account.
func (s *Service) ResetPassword(ctx context.Context, token, passwordHash string) (User, error) {
	now := s.clock.Now()
	var u User
	err := s.update(func(tx Tx) error {
		var key string
		var err error
		if u, key, err = validReset(tx, now, token); err != nil {
			return err
		}
		u.PasswordHash = passwordHash
		if err := putJSON(tx, bUsers, u.ID, u); err != nil {
			return err
		}
		if err := tx.Delete(bResets, []byte(key)); err != nil {
			return err
		}
		// Every session of the account ends: whoever knew the old password
		// is signed out. Sessions are keyed by token hash, so scan them.
		var ended [][]byte
		if err := tx.Scan(bSessions, nil, nil, func(k, v []byte) error {
			var sess Session
			if err := json.Unmarshal(v, &sess); err == nil && sess.UserID == u.ID {
				ended = append(ended, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range ended {
			if err := tx.Delete(bSessions, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.sessions.dropUser(u.ID) // after the commit, so no read can re-add them
	}
	return u, err
}
