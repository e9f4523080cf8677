package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"
	"atlas11/control/notify"

	"github.com/prometheus/client_golang/prometheus"
)

// t0 is a Monday morning, far from daylight-saving changes.
var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

const testSecret = "internal-secret-for-tests-0123456789"

// env is a real API on a real service and a real bbolt file.
type env struct {
	t     testing.TB
	clock *control.SimClock
	svc   *control.Service
	gw    *control.SandboxGateway
	db    *bolt.DB
	srv   *httptest.Server
	doc   *apiDoc
	reg   *prometheus.Registry
	api   *server

	ice atomic.Int64 // ICEServers calls

	mu   sync.Mutex
	n    int
	seen map[string]bool // operations answered with a validated 2xx
}

// bounceMailer accepts every notice except those to bounce.test, which it
// refuses for good, as a 5xx would.
type bounceMailer struct{}

func (bounceMailer) Send(_ context.Context, n control.Notice) error {
	if strings.HasSuffix(n.Email, "@bounce.test") {
		return fmt.Errorf("550 mailbox unavailable: %w", control.ErrMailPermanent)
	}
	return nil
}

// renderNotice renders with the real templates.
func renderNotice(t testing.TB) func(control.Notice) (NoticePreview, error) {
	r, err := notify.NewRenderer("https://atlas11.test", "no-reply@atlas11.test")
	if err != nil {
		t.Fatal(err)
	}
	return func(n control.Notice) (NoticePreview, error) {
		m, err := r.Render(n)
		return NoticePreview{Subject: m.Subject, Text: m.Text, HTML: m.HTML}, err
	}
}

func calendarOf(t testing.TB) func(string, string, []control.CalendarEntry, time.Time) []byte {
	r, err := notify.NewRenderer("https://atlas11.test", "no-reply@atlas11.test")
	if err != nil {
		t.Fatal(err)
	}
	return r.Calendar
}

type envOpt func(*Deps)

func withoutSim() envOpt        { return func(d *Deps) { d.SimClock = nil } }
func withSecureCookies() envOpt { return func(d *Deps) { d.SecureCookies = true } }

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	clock := control.NewSimClock(t0)
	gw := control.NewSandboxGateway()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	svc, err := control.NewService(control.Config{Store: db, Gateway: gw, Clock: clock, CallSecret: secret, Mailer: bounceMailer{}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := &env{t: t, clock: clock, svc: svc, gw: gw, db: db, reg: reg, seen: map[string]bool{}}
	deps := Deps{Service: svc, Registerer: reg, SimClock: clock, InternalSecret: testSecret,
		Backup: db.Backup, Now: clock.Now, SupportEmail: "help@atlas11.test", RenderNotice: renderNotice(t), Calendar: calendarOf(t),
		ICEServers: func(userID string) []ICEServer {
			e.ice.Add(1)
			return []ICEServer{{URLs: []string{"turn:127.0.0.1:3478"}, Username: "u-" + userID, Credential: "c"}}
		}}
	for _, o := range opts {
		o(&deps)
	}
	s, err := newServer(deps)
	if err != nil {
		t.Fatal(err)
	}
	// Cheap hashing keeps the suite fast; production parameters are tested
	// in password_test.go.
	s.argon = argonParams{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	srv := httptest.NewServer(s.engine())
	t.Cleanup(srv.Close)
	doc, err := parseDoc(s.openapi)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.doc, e.api = srv, doc, s
	return e
}

// user is one browser: its own cookie jar.
type user struct {
	e    *env
	hc   *http.Client
	id   string
	role control.Role
}

func (e *env) anon() *user {
	jar, _ := cookiejar.New(nil)
	return &user{e: e, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (e *env) signUp(role control.Role) *user {
	e.t.Helper()
	return e.signUpAt(role, "atlas11.test")
}

// signUpAt signs up a new user with an address at domain; the env's mailer
// refuses every address at bounce.test for good.
func (e *env) signUpAt(role control.Role, domain string) *user {
	e.t.Helper()
	e.mu.Lock()
	e.n++
	n := e.n
	e.mu.Unlock()
	u := e.anon()
	r := u.post("/auth/signup", map[string]any{"email": fmt.Sprintf("%s%d@%s", role, n, domain),
		"password": "correct horse battery", "name": fmt.Sprintf("%s %d", role, n), "role": role,
		"time_zone": "Europe/Paris"})
	r.want(http.StatusCreated)
	var me meView
	r.decode(&me)
	u.id, u.role = me.User.ID, role
	return u
}

func (e *env) operator() *user {
	e.t.Helper()
	op, err := e.svc.CreateOperator(context.Background(), control.NewUser{Email: "ops@atlas11.test", Name: "Ops",
		PasswordHash: hashPassword(e.api.argon, "operator password!")})
	if err != nil {
		e.t.Fatal(err)
	}
	u := e.anon()
	u.post("/auth/signin", map[string]any{"email": "ops@atlas11.test", "password": "operator password!"}).want(http.StatusOK)
	u.id, u.role = op.ID, control.RoleOperator
	return u
}

type resp struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
	what   string
}

// do sends a request and validates the answer against the OpenAPI document.
func (u *user) do(method, path string, body any, hdr ...string) *resp {
	u.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u.e.srv.URL+Prefix+path, rd)
	if err != nil {
		u.e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := u.hc.Do(req)
	if err != nil {
		u.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &resp{t: u.e.t, status: res.StatusCode, header: res.Header, body: b, what: method + " " + path}
	u.e.checkDoc(req.URL.Path, r, method)
	return r
}

func (u *user) get(path string) *resp { return u.do("GET", path, nil) }
func (u *user) post(path string, body any, hdr ...string) *resp {
	return u.do("POST", path, body, hdr...)
}

// checkDoc validates a real response against the document's schemas.
func (e *env) checkDoc(path string, r *resp, method string) {
	e.t.Helper()
	op, ok := e.doc.find(method, path)
	if !ok {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			e.t.Errorf("%s: answered %d but is not in the OpenAPI document", r.what, r.status)
		}
		return
	}
	if r.status < 300 {
		e.mu.Lock()
		e.seen[op.method+" "+op.template] = true
		e.mu.Unlock()
	}
	s, ct, ok := op.responseSchema(r.status)
	if !ok {
		if len(r.body) != 0 {
			e.t.Errorf("%s: status %d has no documented body but got %q", r.what, r.status, r.body)
		}
		return
	}
	if ct != "application/json" {
		return
	}
	if r.status >= 400 {
		if _, documented := op.op["responses"].(map[string]any)[fmt.Sprint(r.status)]; documented {
			e.t.Errorf("%s: error status %d collides with a success status", r.what, r.status)
		}
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		e.t.Errorf("%s: body is not JSON: %v: %q", r.what, err, r.body)
		return
	}
	if err := e.doc.validate(s, v, "$"); err != nil {
		e.t.Errorf("%s (%d): response does not match the OpenAPI schema: %v\n%s", r.what, r.status, err, r.body)
	}
}

func (r *resp) want(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s: status %d, want %d: %s", r.what, r.status, status, r.body)
	}
	return r
}

// wantErr checks status and error code (and field when given).
func (r *resp) wantErr(status int, code string, field ...string) *resp {
	r.t.Helper()
	var eb ErrorBody
	_ = json.Unmarshal(r.body, &eb)
	if r.status != status || eb.Error.Code != code {
		r.t.Fatalf("%s: got %d %q, want %d %q: %s", r.what, r.status, eb.Error.Code, status, code, r.body)
	}
	if len(field) > 0 && eb.Error.Field != field[0] {
		r.t.Fatalf("%s: error field %q, want %q: %s", r.what, eb.Error.Field, field[0], r.body)
	}
	return r
}

// wantDenied accepts 403 or 404: the domain may hide that an object exists.
func (r *resp) wantDenied() *resp {
	r.t.Helper()
	if r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		r.t.Fatalf("%s: status %d, want 403 or 404: %s", r.what, r.status, r.body)
	}
	return r
}

func (r *resp) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s: decode: %v: %s", r.what, err, r.body)
	}
}

func (e *env) key() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	return fmt.Sprintf("key-%d", e.n)
}

// slot publishes a one-off video slot of the expert starting at start.
func (u *user) slot(start time.Time, price int64) control.Slot {
	u.e.t.Helper()
	var s control.Slot
	u.post("/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": price,
		"media": []string{"video"}}).want(http.StatusCreated).decode(&s)
	return s
}

func (u *user) book(slotID string) control.Booking {
	u.e.t.Helper()
	var b control.Booking
	u.post("/bookings", map[string]any{"slot_id": slotID, "media": "video"},
		"Idempotency-Key", u.e.key()).want(http.StatusCreated).decode(&b)
	return b
}

// snapshot is what a refused request must leave unchanged.
type snapshot struct {
	Journal  []control.Transfer
	Balances map[string]int64
	Bookings []control.Booking
	Slots    []control.Slot
	Events   []control.Event
	Calls    int
}

func (e *env) snapshot(clientID, expertID string) snapshot {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	var s snapshot
	var err error
	if s.Journal, err = e.svc.Journal(ctx); err != nil {
		e.t.Fatal(err)
	}
	if s.Balances, err = e.svc.Balances(ctx); err != nil {
		e.t.Fatal(err)
	}
	if s.Bookings, err = e.svc.Bookings(ctx, clientID, now.Add(-30*24*time.Hour), now.Add(60*24*time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	if s.Slots, err = e.svc.ListSlots(ctx, expertID, now, now.Add(60*24*time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	if s.Events, err = e.svc.Events(ctx, expertID, now, now.Add(60*24*time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	s.Calls = len(e.gw.Calls())
	return s
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
