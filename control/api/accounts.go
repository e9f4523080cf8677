package api

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"atlas11/control"
)

// Password length bounds: long passphrases welcome, megabyte ones are a
// hashing cost attack.
const (
	minPassword = 10
	maxPassword = 256
)

type signUpReq struct {
	Email    string       `json:"email" max:"254"`
	Password string       `json:"password" max:"256"`
	Name     string       `json:"name" max:"200"`
	Role     control.Role `json:"role" max:"20"` // client or expert (ACC-1: free)
	Locale   string       `json:"locale,omitempty" max:"5"`
	TimeZone string       `json:"time_zone,omitempty" max:"64"`
}

type signInReq struct {
	Email    string `json:"email" max:"254"`
	Password string `json:"password" max:"256"`
}

// userView is a User without its password hash.
type userView struct {
	ID        string       `json:"id"`
	Email     string       `json:"email"`
	Name      string       `json:"name"`
	Role      control.Role `json:"role"`
	Locale    string       `json:"locale"`
	TimeZone  string       `json:"time_zone"`
	Closed    bool         `json:"closed"`
	CreatedAt time.Time    `json:"created_at"`
	Reminders bool         `json:"reminders"` // gets the reminder e-mails
	Verified  bool         `json:"email_verified"`
}

type meView struct {
	User         userView `json:"user"`
	SupportEmail string   `json:"support_email"` // CLM-5
	// Now is the platform's time, which --clock=sim sets apart from the
	// browser's: screens judge deadlines (APT-6, CLM-2) on it.
	Now time.Time `json:"now"`
}

func (s *server) meOf(u control.User) meView {
	return meView{User: userView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Locale: u.Locale,
		TimeZone: u.TimeZone, Closed: u.Closed, CreatedAt: u.CreatedAt, Reminders: !u.NoReminders, Verified: u.EmailVerified}, SupportEmail: s.support, Now: s.svc.Clock().Now()}
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func checkPassword(p string) error {
	if n := utf8.RuneCountInString(p); n < minPassword || len(p) > maxPassword {
		return apiErr(control.Invalid, "weak_password", "password",
			fmt.Sprintf("the password must have %d to %d characters", minPassword, maxPassword))
	}
	return nil
}

func (s *server) signUp(r *request) (any, error) {
	var in signUpReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	if in.Role != control.RoleClient && in.Role != control.RoleExpert {
		return nil, apiErr(control.Invalid, "invalid_role", "role", `role must be "client" or "expert"`)
	}
	email := normalizeEmail(in.Email)
	if at := strings.IndexByte(email, '@'); at < 1 || at == len(email)-1 || len(email) > 254 {
		return nil, apiErr(control.Invalid, "invalid_email", "email", "a valid email address is required")
	}
	if err := checkNewPassword(in.Password, email, in.Name); err != nil {
		return nil, err
	}
	u, err := s.svc.CreateUser(r.ctx(), control.NewUser{Email: email, Name: in.Name, Role: in.Role,
		PasswordHash: hashPassword(s.argon, in.Password), Locale: in.Locale, TimeZone: in.TimeZone})
	if err != nil {
		return nil, err
	}
	if err := s.startSession(r, u); err != nil {
		return nil, err
	}
	return s.meOf(u), nil
}

func (s *server) startSession(r *request, u control.User) error {
	sess, err := s.svc.CreateSession(r.ctx(), u.ID)
	if err != nil {
		return err
	}
	s.setSessionCookie(r.c, sess, s.svc.Clock().Now())
	return nil
}

func (s *server) signIn(r *request) (any, error) {
	var in signInReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	email := normalizeEmail(in.Email)
	// The attempt is counted before the password is checked, atomically, so
	// parallel guesses cannot all slip through one check; success refunds.
	ls, keys := []*limiter{s.byEmail, s.byIP}, []string{email, clientKey(r.c)}
	if ok, wait := takeAll(ls, keys); !ok {
		retryAfter(r.c, wait)
		return nil, apiErr(control.RateLimited, "too_many_attempts", "", "too many failed sign-ins: try again later")
	}
	wrong := apiErr(control.Unauthorized, "invalid_credentials", "", "wrong email or password")
	if len(in.Password) > maxPassword {
		return nil, wrong
	}
	u, err := s.svc.UserByEmail(r.ctx(), email)
	if control.ErrorKind(err) == control.NotFound {
		_, _ = verifyPassword(s.dummyHash(), in.Password) // same cost as a real check
		return nil, wrong
	}
	if err != nil {
		refundAll(ls, keys)
		return nil, err
	}
	ok, err := verifyPassword(u.PasswordHash, in.Password)
	if err != nil || !ok {
		return nil, wrong
	}
	refundAll(ls, keys)
	if u.Closed {
		return nil, apiErr(control.Forbidden, "account_closed", "", "this account is closed")
	}
	if err := s.startSession(r, u); err != nil {
		return nil, err
	}
	return s.meOf(u), nil
}

func (s *server) signOut(r *request) (any, error) {
	if tok, err := r.c.Cookie(s.cookieName()); err == nil && tok != "" {
		if err := s.svc.DeleteSession(r.ctx(), tok); err != nil {
			return nil, err
		}
	}
	s.clearCookie(r.c)
	return nil, nil
}

func (s *server) me(r *request) (any, error) { return s.meOf(r.user), nil }

func (s *server) updatePreferences(r *request) (any, error) {
	var in control.Preferences
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	u, err := s.svc.UpdatePreferences(r.ctx(), r.user.ID, in)
	if err != nil {
		return nil, err
	}
	return s.meOf(u), nil
}

func (s *server) activity(r *request) (any, error) {
	return list(s.svc.Activity(r.ctx(), r.user.ID))
}

// list never answers null for an empty list.
func list[T any](items []T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []T{}
	}
	return items, nil
}
