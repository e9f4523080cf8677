package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"
)

// testConfig keeps every listener of a spawned binary on a free port so tests
// can run side by side.
const testConfig = `
admin_addr: 127.0.0.1:0
log:
  level: warn
sfu:
  udp_port: 0
  tcp_port: 0
turn:
  port: 0
  tls_port: 0
`

// buildBinary compiles cmd/atlas11 once per test into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "atlas11")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd   *exec.Cmd
	base  string
	admin string // the admin listener's base URL (/metrics, /debug/pprof)
	logs  *lockedBuffer
}

// lockedBuffer is a process's stderr, read while it writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// spawn starts the binary on dataDir and waits for its listening line.
func spawn(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	return spawnWith(t, bin, dataDir, testConfig, extra...)
}

// spawnWith is spawn with another config file.
func spawnWith(t *testing.T, bin, dataDir, config string, extra ...string) *proc {
	t.Helper()
	cfg := filepath.Join(dataDir, "..", "test.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--config", cfg}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	found := make(chan string, 1)
	admin := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "admin: listening on "); ok {
				admin <- u
			}
			if u, ok := strings.CutPrefix(lines.Text(), "http: listening on "); ok {
				found <- u
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("binary exited before listening:\n%s", stderr.String())
		}
		pr := &proc{cmd: cmd, base: u, logs: stderr}
		select {
		case pr.admin = <-admin:
		default:
		}
		return pr
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("binary did not listen within 30s:\n%s", stderr.String())
	}
	return nil
}

// client is one signed-in user of the HTTP API.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (c *client) do(method, path string, body any, headers map[string]string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Same-origin, as a browser would say for the app's own requests.
	req.Header.Set("Origin", c.base)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, nil
}

func (c *client) rebase(base string) { c.base = base }

func mustDo(t *testing.T, c *client, method, path string, body any, out any) {
	t.Helper()
	if _, err := c.do(method, path, body, nil, out); err != nil {
		t.Fatal(err)
	}
}

// Crash safety (PAY-7): the real binary is killed with SIGKILL at random
// moments while clients book; after each restart on the same file every
// acknowledged booking is there, and the journal still balances.
func TestCrash_SIGKILLUnderBookingLoad_PAY7(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := spawn(t, bin, dataDir)

	expert := newClient(p.base)
	mustDo(t, expert, "POST", "/api/v1/auth/signup", map[string]any{
		"email": "expert@crash.test", "password": "correct horse battery", "name": "Expert", "role": "expert", "time_zone": "Europe/Paris"}, nil)
	const nClients, slotsPerRound, rounds = 6, 150, 3
	var slots []control.Slot
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	for i := range slotsPerRound * rounds {
		var s control.Slot
		mustDo(t, expert, "POST", "/api/v1/me/slots", control.OneOffSlot{
			Start: start.Add(time.Duration(i) * 30 * time.Minute), Minutes: 30, PriceCents: 2500,
			Media: []control.MediaKind{control.MediaVideo}}, &s)
		slots = append(slots, s)
	}
	clients := make([]*client, nClients)
	for i := range clients {
		clients[i] = newClient(p.base)
		mustDo(t, clients[i], "POST", "/api/v1/auth/signup", map[string]any{
			"email": fmt.Sprintf("c%d@crash.test", i), "password": "correct horse battery", "name": "Client", "role": "client"}, nil)
	}

	type ack struct {
		client int
		id     string
	}
	var acked []ack
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for round := range rounds {
		var mu sync.Mutex
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for ci, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := ci; j < slotsPerRound && ctx.Err() == nil; j += nClients {
					slot := slots[round*slotsPerRound+j]
					var b control.Booking
					_, err := c.do("POST", "/api/v1/bookings", map[string]any{"slot_id": slot.ID},
						map[string]string{"Idempotency-Key": fmt.Sprintf("r%d-s%d", round, j)}, &b)
					if err == nil {
						mu.Lock()
						acked = append(acked, ack{ci, b.ID})
						mu.Unlock()
					}
				}
			}()
		}
		// Kill at a random moment of the write load.
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		stop()
		wg.Wait()

		p = spawn(t, bin, dataDir)
		for _, c := range clients {
			c.rebase(p.base)
		}
		mu.Lock()
		for _, a := range acked {
			var b control.Booking
			if _, err := clients[a.client].do("GET", "/api/v1/bookings/"+a.id, nil, nil, &b); err != nil {
				t.Fatalf("round %d: acknowledged booking %s lost after SIGKILL: %v", round, a.id, err)
			}
			if b.Status == control.BookingStatus("pending_payment") || b.PaidCents != 2500 {
				t.Fatalf("acknowledged booking %s is %s with %d paid", a.id, b.Status, b.PaidCents)
			}
		}
		t.Logf("round %d: %d bookings acknowledged so far, all present after restart", round, len(acked))
		mu.Unlock()
	}
	if len(acked) == 0 {
		t.Fatal("no booking was acknowledged: the load never reached the store")
	}

	// Stop cleanly, then read the file directly: the journal must balance.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	db, err := bolt.Open(filepath.Join(dataDir, "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := control.NewService(control.Config{Store: db, Gateway: control.NewSandboxGateway(),
		CallSecret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.VerifyLedger(context.Background()); err != nil {
		t.Fatalf("ledger after crashes: %v", err)
	}
	bal, err := svc.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, v := range bal {
		sum += v
	}
	if sum != 0 {
		t.Fatalf("balances sum to %d, want 0", sum)
	}
}
