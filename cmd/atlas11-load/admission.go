package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"atlas11/cmd/internal/loadkit"
)

// admission is how the tool gets into a room: the real control plane over its
// HTTP API, or (in tests of the media path alone) a fake beside an in-process SFU.
type admission interface {
	// prepare makes a room for one expert and guests participants.
	prepare(ctx context.Context, guests int, log io.Writer) error
	// ticket returns a fresh call token: who < 0 is the expert, else guest who.
	ticket(ctx context.Context, who int) (ticket, error)
}

type ticket struct {
	token        string
	signalingURL string // ws:// or wss://
}

// apiAdmission walks the real admission path of a running atlas11 (CALL-1):
// sign-ups, an event, paid registrations, then a call token per join.
type apiAdmission struct {
	base                *url.URL
	opEmail, opPassword string
	run                 string

	expert *apiUser
	guests []*apiUser
	room   string
}

type apiUser struct {
	client *http.Client
	email  string
}

func newAPIAdmission(base string, opEmail, opPassword string) (*apiAdmission, error) {
	u, err := loadkit.LoopbackURL(base)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &apiAdmission{base: u, opEmail: opEmail, opPassword: opPassword, run: hex.EncodeToString(b[:])}, nil
}

func newAPIUser(email string) *apiUser {
	jar, _ := cookiejar.New(nil)
	return &apiUser{client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: email}
}

// apiError is an API refusal with its stable code.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

func (a *apiAdmission) do(ctx context.Context, u *apiUser, method, path string, in, out any, hdr map[string]string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		var wrapped struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Error != nil {
			e.Code, e.Message = wrapped.Error.Code, wrapped.Error.Message
		} else if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Message = strings.TrimSpace(string(b[:min(len(b), 300)]))
		}
		return fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: bad response: %w", method, path, err)
		}
	}
	return nil
}

// password shares nothing with the e-mail or name: the policy refuses that.
func (a *apiAdmission) password() string { return "violet tide lamp 9" }

func (a *apiAdmission) signUp(ctx context.Context, role, name, email string) (*apiUser, error) {
	u := newAPIUser(email)
	in := map[string]string{"email": email, "password": a.password(), "name": name, "role": role}
	if err := a.do(ctx, u, http.MethodPost, "/auth/signup", in, nil, nil); err != nil {
		return nil, fmt.Errorf("sign up %s: %w", email, err)
	}
	return u, nil
}

// parallel runs f(0..n-1) on a few workers and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

func (a *apiAdmission) prepare(ctx context.Context, guests int, log io.Writer) error {
	var err error
	a.expert, err = a.signUp(ctx, "expert", "Load Expert", "load-"+a.run+"-expert@example.test")
	if err != nil {
		return err
	}
	a.guests = make([]*apiUser, guests)
	err = parallel(ctx, guests, 4, func(ctx context.Context, i int) error {
		u, err := a.signUp(ctx, "client", fmt.Sprintf("Load Participant %02d", i), fmt.Sprintf("load-%s-p%02d@example.test", a.run, i))
		a.guests[i] = u
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "admission: signed up 1 expert and %d clients (run %s)\n", guests, a.run)

	// The event must be inside its opening window when the call starts. With a
	// simulation clock an operator reads the clock and later moves it there;
	// with the wall clock an event starting in 5 minutes is already open.
	now, sim := time.Now(), false
	var op *apiUser
	if a.opEmail != "" {
		op = newAPIUser(a.opEmail)
		in := map[string]string{"email": a.opEmail, "password": a.opPassword}
		if err := a.do(ctx, op, http.MethodPost, "/auth/signin", in, nil, nil); err != nil {
			return fmt.Errorf("operator sign-in: %w", err)
		}
		var clock struct {
			Now time.Time `json:"now"`
		}
		err := a.do(ctx, op, http.MethodGet, "/sim/clock", nil, &clock, nil)
		var ae *apiError
		switch {
		case err == nil:
			now, sim = clock.Now, true
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		default:
			return fmt.Errorf("read the simulation clock: %w", err)
		}
	}
	start := now.Add(5 * time.Minute)
	if sim {
		start = now.Add(time.Hour)
	}
	start = start.Truncate(time.Second)
	ev := struct {
		ID string `json:"id"`
	}{}
	in := map[string]any{"title": "Load test " + a.run, "description": "atlas11-load", "start": start, "minutes": 60,
		"price_cents": 500, "min_participants": 1, "max_participants": max(guests, 1)}
	if err := a.do(ctx, a.expert, http.MethodPost, "/events", in, &ev, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "time_in_past" && !sim {
			return fmt.Errorf("create event: %w (a --clock=sim server needs -operator-email and -operator-password)", err)
		}
		return fmt.Errorf("create event: %w", err)
	}
	a.room = ev.ID
	err = parallel(ctx, guests, 4, func(ctx context.Context, i int) error {
		var k [12]byte
		_, _ = rand.Read(k[:])
		hdr := map[string]string{"Idempotency-Key": hex.EncodeToString(k[:])}
		if err := a.do(ctx, a.guests[i], http.MethodPost, "/events/"+a.room+"/register", nil, nil, hdr); err != nil {
			return fmt.Errorf("register participant %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "admission: event %s at %s, %d registrations\n", a.room, start.Format(time.RFC3339), guests)
	if sim {
		in := map[string]any{"set": start.Add(-5 * time.Minute)}
		if err := a.do(ctx, op, http.MethodPost, "/sim/clock", in, nil, nil); err != nil {
			return fmt.Errorf("move the simulation clock into the opening window: %w", err)
		}
		fmt.Fprintf(log, "admission: simulation clock moved to %s\n", start.Add(-5*time.Minute).Format(time.RFC3339))
	}
	return nil
}

func (a *apiAdmission) ticket(ctx context.Context, who int) (ticket, error) {
	u := a.expert
	if who >= 0 {
		u = a.guests[who]
	}
	var out struct {
		Token        string `json:"token"`
		SignalingURL string `json:"signaling_url"`
	}
	if err := a.do(ctx, u, http.MethodPost, "/calls/"+a.room+"/token", nil, &out, nil); err != nil {
		return ticket{}, fmt.Errorf("call token: %w", err)
	}
	ws, err := wsURL(a.base, out.SignalingURL)
	if err != nil {
		return ticket{}, err
	}
	return ticket{token: out.Token, signalingURL: ws}, nil
}

// wsURL resolves the signaling URL the API returns (absolute or a path)
// against the server's base URL, with a WebSocket scheme.
func wsURL(base *url.URL, s string) (string, error) {
	if s == "" {
		s = "/api/v1/rtc"
	}
	ref, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("signaling URL %q: %w", s, err)
	}
	u := base.ResolveReference(ref)
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("signaling URL %q: unsupported scheme", s)
	}
	return u.String(), nil
}
