package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// platform is the real atlas11 binary, built from ./cmd/atlas11 and run with
// the simulation clock on a free port, with an operator account made by
// `atlas11 operator create`.
type platform struct {
	URL     string
	Data    string
	OpEmail string
	OpPass  string
	out     *bytes.Buffer
	bin     string
	cfg     string
	stop    func() // ends the running server (SIGTERM, then kill)
}

// startPlatform builds the binary into a temp dir, creates an operator and
// starts the server; it is stopped (SIGTERM, then kill) when the test ends.
func startPlatform(t *testing.T) *platform {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "atlas11")
	build := exec.Command("go", "build", "-o", bin, "atlas11/cmd/atlas11")
	if prebuilt := os.Getenv("ATLAS11_BIN"); prebuilt != "" {
		// Walk the journeys against a given binary (a release build).
		bin = prebuilt
	} else if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build atlas11: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "atlas11.yaml")
	// Free ports for the media server, so this test never collides with
	// another package's tests running at the same time; TURN is off: the
	// browsers are on loopback with the server.
	udp, tcp := freeUDPPort(t), freePort(t)
	conf := fmt.Sprintf("sfu:\n  udp_port: %d\n  tcp_port: %d\nturn:\n  enabled: false\n", udp, tcp)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &platform{Data: data, OpEmail: "ops@atlas11.example", OpPass: "operator-password-1", out: &bytes.Buffer{}}
	create := exec.Command(bin, "operator", "create", "--config", cfg, "--data", data, "--email", p.OpEmail, "--name", "Opératrice Atlas11")
	create.Env = append(os.Environ(), "ATLAS11_OPERATOR_PASSWORD="+p.OpPass)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("atlas11 operator create: %v\n%s", err, out)
	}
	p.bin, p.cfg = bin, cfg
	p.serve(t)
	return p
}

// serve starts the server on the platform's data; restarted after stop, it
// finds everything as it was (the simulation clock included).
func (p *platform) serve(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "serve", "--config", p.cfg, "--clock=sim", "--addr", "127.0.0.1:0", "--data", p.Data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start atlas11: %v", err)
	}
	done := make(chan struct{})
	stopped := false
	p.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("atlas11 log (tail):\n%s", tail(p.out.String(), 4000))
		}
	})
	urls := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "http: listening on "); ok {
				urls <- strings.TrimSpace(u)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case p.URL = <-urls:
	case <-done:
		t.Fatalf("atlas11 exited before listening:\n%s", p.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("atlas11 did not print its address within 30 s:\n%s", p.out.String())
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// apiClient talks to the API from Go, for set-up steps that are not the
// journey under test (the journeys themselves run in Chromium).
type apiClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (p *platform) client(t *testing.T) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{t: t, base: p.URL + "/api/v1", hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// do sends a request and decodes the answer into out; a non-2xx answer
// fails the test with the API's error.
func (c *apiClient) do(method, path string, body, out any, idem string) {
	c.t.Helper()
	if err := c.try(method, path, body, out, idem); err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (c *apiClient) try(method, path string, body, out any, idem string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *apiClient) signIn(email, pass string) {
	c.t.Helper()
	c.do("POST", "/auth/signin", map[string]string{"email": email, "password": pass}, nil, "")
}

// operator signs an API client in as the operator.
func (p *platform) operator(t *testing.T) *apiClient {
	c := p.client(t)
	c.signIn(p.OpEmail, p.OpPass)
	return c
}

// now is the platform's simulated time.
func (c *apiClient) now() time.Time {
	c.t.Helper()
	var v struct {
		Now time.Time `json:"now"`
	}
	c.do("GET", "/sim/clock", nil, &v, "")
	return v.Now
}

// setClock moves the simulated time forward to at, running the work due.
func (c *apiClient) setClock(at time.Time) {
	c.t.Helper()
	c.do("POST", "/sim/clock", map[string]any{"set": at.UTC().Format(time.RFC3339)}, nil, "")
}

// signUp creates an account from Go and returns its user ID.
func (p *platform) signUp(t *testing.T, role, name, email, tz string) (*apiClient, string) {
	t.Helper()
	c := p.client(t)
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	c.do("POST", "/auth/signup", map[string]string{"role": role, "name": name, "email": email,
		"password": "password-" + role + "-1", "time_zone": tz, "locale": "fr"}, &me, "")
	return c, me.User.ID
}

// addSlot publishes a one-off slot for a signed-in expert and returns its ID.
func (c *apiClient) addSlot(start time.Time, minutes int, cents int64, media ...string) string {
	c.t.Helper()
	var s struct {
		ID string `json:"id"`
	}
	c.do("POST", "/me/slots", map[string]any{"start": start.UTC().Format(time.RFC3339), "minutes": minutes,
		"price_cents": cents, "media": media}, &s, "")
	return s.ID
}

// setSlug gives an expert a shareable address.
func (c *apiClient) setSlug(slug string) {
	c.t.Helper()
	c.do("PATCH", "/me/profile", map[string]any{"slug": slug, "headline": "Experte Atlas11"}, nil, "")
}

// presence reports a join or leave the way the media server does, through
// the internal endpoint authenticated by the secret the binary generated.
func (p *platform) presence(t *testing.T, room, user string, joined bool, at time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Data, "secrets.json"))
	if err != nil {
		t.Fatalf("read secrets: %v", err)
	}
	var sec struct {
		Internal string `json:"internal"`
	}
	if err := json.Unmarshal(b, &sec); err != nil || sec.Internal == "" {
		t.Fatalf("no internal secret in secrets.json: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"room": room, "user": user, "joined": joined, "at": at.UTC().Format(time.RFC3339)})
	req, _ := http.NewRequest("POST", p.URL+"/api/v1/internal/presence", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sec.Internal)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(res.Body)
		t.Fatalf("presence: status %d: %s", res.StatusCode, msg)
	}
}

// book books a slot for a signed-in client from Go and returns the booking.
func (c *apiClient) book(slotID, media string) (id, room string) {
	c.t.Helper()
	var b struct {
		ID   string `json:"id"`
		Room string `json:"room"`
	}
	c.do("POST", "/bookings", map[string]any{"slot_id": slotID, "media": media}, &b, "book-"+slotID)
	return b.ID, b.Room
}

// addRule publishes a weekly availability rule for a signed-in expert.
func (c *apiClient) addRule(weekday time.Weekday, from, to string, minutes int, cents int64, tz string, media ...string) {
	c.t.Helper()
	c.do("POST", "/me/availability-rules", map[string]any{"weekday": int(weekday), "start_time": from, "end_time": to,
		"slot_minutes": minutes, "price_cents": cents, "media": media, "time_zone": tz}, nil, "")
}

// createEvent creates an event for a signed-in expert and returns its ID.
func (c *apiClient) createEvent(title string, start time.Time, minutes int, cents int64, min, max int) string {
	c.t.Helper()
	var e struct {
		ID string `json:"id"`
	}
	c.do("POST", "/events", map[string]any{"title": title, "description": "Atelier en groupe.", "start": start.UTC().Format(time.RFC3339),
		"minutes": minutes, "price_cents": cents, "min_participants": min, "max_participants": max}, &e, "")
	return e.ID
}
