package control

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/mail"
	"strings"
	"time"
)

// An address is proved by a single-use link mailed to it: at sign-up, and
// before an account's address changes (the change happens only once the
// new address is proved, and the old one is told). Only the token's hash
// is stored.

// VerifyTokenTTL is how long a verification link works.
const VerifyTokenTTL = 72 * time.Hour

// Notice kinds of address verification (essential: always sent).
const (
	NoticeEmailVerify  NoticeKind = "email_verify"  // to a new account's address
	NoticeEmailChange  NoticeKind = "email_change"  // to the address an account moves to
	NoticeEmailChanged NoticeKind = "email_changed" // to the address it left
)

type verifyToken struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"` // the address proved
	ExpiresAt time.Time `json:"expires_at"`
}

// queueVerification mails a link proving email for u, in tx.
func queueVerification(tx Tx, now time.Time, u User, email string, kind NoticeKind) error {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	key := string(sessionKey(token))
	if err := putJSON(tx, bVerify, key, verifyToken{UserID: u.ID, Email: email, ExpiresAt: now.Add(VerifyTokenTTL)}); err != nil {
		return err
	}
	if err := addDue(tx, now.Add(VerifyTokenTTL), dueVerify, key); err != nil {
		return err
	}
	n := Notice{Kind: kind, ID: string(kind) + "." + u.ID + "." + key[:16], Path: "/verify/" + token, Secret: true,
		End: now.Add(VerifyTokenTTL)}
	if err := recipient(tx, u.ID, &n); err != nil {
		return err
	}
	n.Email = email
	return notify(tx, now, n)
}

// RequestEmailChange mails a link to newEmail; the account's address
// changes when it is followed. The caller has checked the password.
func (s *Service) RequestEmailChange(ctx context.Context, userID, newEmail string) error {
	email := strings.ToLower(strings.TrimSpace(newEmail))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > MaxEmailLen {
		return fieldErr("email", "invalid_email", "give a valid e-mail address")
	}
	now := s.clock.Now()
	return s.update(func(tx Tx) error {
		u, err := actor(tx, userID)
		if err != nil {
			return err
		}
		if u.Email == email {
			return fieldErr("email", "email_unchanged", "this is already the account's address")
		}
		if tx.Get(bEmails, []byte(email)) != nil {
			return &Error{Kind: Conflict, Code: "email_taken", Message: "an account already uses this email", Field: "email"}
		}
		return queueVerification(tx, now, u, email, NoticeEmailChange)
	})
}

// VerifyEmail follows a verification link: the address is proved and, for
// a change, becomes the account's (the old address is told).
func (s *Service) VerifyEmail(ctx context.Context, token string) (User, error) {
	now := s.clock.Now()
	invalid := fieldErr("token", "verify_token_invalid", "this link is invalid or has expired")
	if token == "" || len(token) > 64 {
		return User{}, invalid
	}
	key := string(sessionKey(token))
	var u User
	err := s.update(func(tx Tx) error {
		var vt verifyToken
		ok, err := getJSON(tx, bVerify, key, &vt)
		if err != nil || !ok || !now.Before(vt.ExpiresAt) {
			return invalid
		}
		if u, err = loadUser(tx, vt.UserID); err != nil || u.Closed {
			return invalid
		}
		if err := tx.Delete(bVerify, []byte(key)); err != nil {
			return err
		}
		if vt.Email != u.Email {
			if tx.Get(bEmails, []byte(vt.Email)) != nil {
				return &Error{Kind: Conflict, Code: "email_taken", Message: "an account already uses this email", Field: "email"}
			}
			old := u.Email
			if err := tx.Delete(bEmails, []byte(old)); err != nil {
				return err
			}
			if err := tx.Put(bEmails, []byte(vt.Email), []byte(u.ID)); err != nil {
				return err
			}
			u.Email = vt.Email
			n := Notice{Kind: NoticeEmailChanged, ID: string(NoticeEmailChanged) + "." + u.ID + "." + key[:16], Message: vt.Email}
			if err := recipient(tx, u.ID, &n); err != nil {
				return err
			}
			n.Email = old
			if err := notify(tx, now, n); err != nil {
				return err
			}
		}
		u.EmailVerified = true
		return putJSON(tx, bUsers, u.ID, u)
	})
	if err == nil {
		s.sessions.dropUser(u.ID)
	}
	return u, err
}
