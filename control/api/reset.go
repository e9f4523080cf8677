package api

import (
	"time"

	"atlas11/control"
)

type resetRequestReq struct {
	Email string `json:"email" max:"254"`
}

type resetConfirmReq struct {
	Token    string `json:"token" max:"64"`
	Password string `json:"password" max:"256"`
}

// requestReset mails a reset link; the answer is the same whether or not
// the address has an account.
func (s *server) requestReset(r *request) (any, error) {
	var in resetRequestReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	email := normalizeEmail(in.Email)
	if email == "" {
		return nil, apiErr(control.Invalid, "email_required", "email", "give the e-mail address of the account")
	}
	ls, keys := []*limiter{s.resetByEmail, s.resetByIP}, []string{email, clientKey(r.c)}
	if ok, wait := takeAll(ls, keys); !ok {
		retryAfter(r.c, wait)
		return nil, apiErr(control.RateLimited, "too_many_attempts", "", "too many reset requests: try again later")
	}
	return nil, s.svc.RequestPasswordReset(r.ctx(), email)
}

// confirmReset sets the new password from a reset link and signs in; every
// other session of the account has ended.
func (s *server) confirmReset(r *request) (any, error) {
	var in resetConfirmReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	u, err := s.svc.ResetTokenUser(r.ctx(), in.Token)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(in.Password, u.Email, u.Name); err != nil {
		return nil, err
	}
	u, err = s.svc.ResetPassword(r.ctx(), in.Token, hashPassword(s.argon, in.Password))
	if err != nil {
		return nil, err
	}
	if err := s.startSession(r, u); err != nil {
		return nil, err
	}
	return s.meOf(u), nil
}

// Reset requests are limited per address and per client: each mails
// someone, so they must not become a way to flood an inbox.
func newResetLimiters(now func() time.Time) (byEmail, byIP *limiter) {
	return newLimiter(now, 3, 10*time.Minute), newLimiter(now, 10, time.Minute)
}

type verifyEmailReq struct {
	Token string `json:"token" max:"64"`
}

type changeEmailReq struct {
	Email    string `json:"email" max:"254"`
	Password string `json:"password" max:"256"`
}

// verifyEmail follows a mailed verification link.
func (s *server) verifyEmail(r *request) (any, error) {
	var in verifyEmailReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	u, err := s.svc.VerifyEmail(r.ctx(), in.Token)
	if err != nil {
		return nil, err
	}
	return s.meOf(u), nil
}

// changeEmail mails a link to the new address; the current password
// proves the caller is the account's owner.
func (s *server) changeEmail(r *request) (any, error) {
	var in changeEmailReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	// Wrong passwords count as failed sign-ins do (a right one refunds);
	// each mail sent counts as a reset request does.
	tooMany := func(wait time.Duration) error {
		retryAfter(r.c, wait)
		return apiErr(control.RateLimited, "too_many_attempts", "", "too many attempts: try again later")
	}
	ls, keys := []*limiter{s.byEmail, s.byIP}, []string{r.user.Email, clientKey(r.c)}
	if ok, wait := takeAll(ls, keys); !ok {
		return nil, tooMany(wait)
	}
	if ok, err := verifyPassword(r.user.PasswordHash, in.Password); err != nil || !ok {
		return nil, apiErr(control.Invalid, "wrong_password", "password", "the current password is wrong")
	}
	refundAll(ls, keys)
	if ok, wait := s.resetByEmail.Take("change:" + r.user.ID); !ok {
		return nil, tooMany(wait)
	}
	return nil, s.svc.RequestEmailChange(r.ctx(), r.user.ID, in.Email)
}
