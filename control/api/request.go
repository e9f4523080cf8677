package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"atlas11/control"

	"github.com/gin-gonic/gin"
)

// sessionCookie holds the session token (HttpOnly: scripts never see it).
const sessionCookie = "atlas11_session"

// secureSessionCookie is its name when cookies are secure (HTTPS): the
// __Host- prefix makes browsers accept it only with Secure, Path=/ and no
// Domain, from a secure origin, so neither a sibling subdomain nor a
// plain-HTTP attacker on the path can plant or shadow a session.
const secureSessionCookie = "__Host-" + sessionCookie

// cookieName is the session cookie's name in this server's mode; the other
// name is ignored, so a cookie planted without the prefix never counts.
func (s *server) cookieName() string {
	if s.secure {
		return secureSessionCookie
	}
	return sessionCookie
}

// request is what a handler sees: the gin context stays inside this package.
type request struct {
	c    *gin.Context
	dec  *decoder
	user control.User // zero for public and internal routes
	key  string       // Idempotency-Key of money-moving routes
}

func (r *request) ctx() context.Context     { return r.c.Request.Context() }
func (r *request) param(name string) string { return r.c.Param(name) }
func (r *request) query(name string) string { return r.c.Query(name) }
func (r *request) bind(dst any) error       { return r.dec.body(r.c.Request, dst) }

// span reads the from/to query parameters (RFC 3339); from defaults to
// defFrom and to to from plus def.
func (r *request) span(defFrom time.Time, def time.Duration) (time.Time, time.Time, error) {
	from, to := defFrom, time.Time{}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := r.c.Query(q.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err == nil && !control.SaneInstant(t) {
			return from, to, apiErr(control.Invalid, "invalid_time", q.name, fmt.Sprintf("%s: the time must be between %d and %d",
				q.name, control.MinInstant.Year(), control.MaxInstant.Year()-1))
		}
		if err != nil {
			return from, to, apiErr(control.Invalid, "invalid_time", q.name, q.name+": expected an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		*q.dst = t.UTC()
	}
	if to.IsZero() {
		to = from.Add(def)
	}
	if !to.After(from) {
		return from, to, apiErr(control.Invalid, "invalid_range", "to", "to must be after from")
	}
	return from, to, nil
}

// wrap turns a route into a gin handler: authentication and role, the
// idempotency key, the handler, then the JSON answer or the error shape.
func (s *server) wrap(rt route) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := &request{c: c, dec: &s.dec}
		if err := s.admit(rt, r); err != nil {
			writeError(c, s.log, err)
			return
		}
		out, err := rt.Handle(s, r)
		if err != nil {
			writeError(c, s.log, err)
			return
		}
		if c.Writer.Written() {
			return
		}
		c.Header("Cache-Control", "no-store")
		if out == nil {
			c.Status(rt.Status)
			return
		}
		c.JSON(rt.Status, out)
	}
}

func (s *server) admit(rt route, r *request) error {
	switch rt.Access {
	case public:
	case internal:
		if s.secret == "" {
			return apiErr(control.NotFound, "internal_disabled", "", "the internal endpoint is not enabled")
		}
		got, ok := strings.CutPrefix(r.c.GetHeader("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.secret)) != 1 {
			return apiErr(control.Unauthorized, "bad_internal_secret", "", "a valid internal bearer secret is required")
		}
	default:
		u, err := s.sessionUser(r.c)
		if err != nil {
			return err
		}
		r.user = u
		want := roleFor(rt.Access)
		if want != "" && u.Role != want {
			return apiErr(control.Forbidden, "role_required", "", "this action is for "+string(want)+"s")
		}
	}
	if rt.Idem {
		k := r.c.GetHeader("Idempotency-Key")
		if k == "" || len(k) > 200 || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			return apiErr(control.Invalid, "idempotency_key_required", "Idempotency-Key",
				"this request moves money: send an Idempotency-Key header (1-200 visible ASCII characters)")
		}
		// Scoped by user so two users' keys never collide.
		r.key = r.user.ID + ":" + k
	}
	return nil
}

// sessionUser resolves the session cookie.
func (s *server) sessionUser(c *gin.Context) (control.User, error) {
	tok, err := c.Cookie(s.cookieName())
	if err != nil || tok == "" {
		return control.User{}, apiErr(control.Unauthorized, "not_signed_in", "", "sign in first")
	}
	u, err := s.svc.SessionUser(ctx(c), tok)
	if err != nil {
		if control.ErrorKind(err) == control.Unauthorized || control.ErrorKind(err) == control.NotFound {
			s.clearCookie(c)
		}
		return control.User{}, err
	}
	return u, nil
}

func (s *server) setSessionCookie(c *gin.Context, sess control.Session, now time.Time) {
	maxAge := int(sess.ExpiresAt.Sub(now) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: s.cookieName(), Value: sess.Token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// roleFor is the role a route demands, "" when any signed-in user will do.
func roleFor(a access) control.Role {
	switch a {
	case expert:
		return control.RoleExpert
	case client:
		return control.RoleClient
	case operator:
		return control.RoleOperator
	}
	return ""
}
