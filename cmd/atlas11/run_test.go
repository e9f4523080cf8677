package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer runs the real program in-process on port 0 and returns its
// base URL; the server is drained when the test ends.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	return startServerIn(t, t.TempDir(), args...)
}

// startServerIn is startServer on a given data directory.
func startServerIn(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	return startServerWith(t, dataDir, testConfig, nil, args...)
}

// startServerWith is startServerIn with a config file of the given text;
// every stdout line before the listening one is passed to seen, if set.
func startServerWith(t *testing.T, dataDir, config string, seen func(string), args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	cfg := filepath.Join(t.TempDir(), "test.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--config", cfg}, args...)
	go func() {
		err := run(ctx, all, noEnv, strings.NewReader(""), pw, io.Discard)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	var base, admin string
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "admin: listening on "); ok {
			admin = u
		}
		if u, ok := strings.CutPrefix(lines.Text(), "http: listening on "); ok {
			base = u
			admins.Store(base, admin)
			break
		}
		if seen != nil {
			seen(lines.Text())
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("server did not start: %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not drain within 15s")
		}
	})
	return base
}

// admins maps a server's base URL to its admin listener's.
var admins sync.Map

// adminOf returns the admin base URL of a server started by startServer.
func adminOf(t *testing.T, base string) string {
	t.Helper()
	a, ok := admins.Load(base)
	if !ok || a.(string) == "" {
		t.Fatalf("no admin listener for %s", base)
	}
	return a.(string)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRun_ServesHealthAppAndValidMetrics(t *testing.T) {
	base := startServer(t)
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, "Atlas11") {
		t.Fatalf("app: %d", code)
	}
	// Metrics and the profiler live on the admin listener only.
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, _ := get(t, base+path); code != http.StatusNotFound {
			t.Fatalf("main listener %s: %d, want 404", path, code)
		}
	}
	admin := adminOf(t, base)
	if code, body := get(t, admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin pprof: %d", code)
	}
	if code, _ := get(t, admin+"/debug/pprof/heap"); code != 200 {
		t.Fatalf("admin heap profile: %d", code)
	}
	code, metrics := get(t, admin+"/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	// promtool is the operators' own linter for exposition text.
	f := filepath.Join(t.TempDir(), "metrics.txt")
	if err := os.WriteFile(f, []byte(metrics), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	in, _ := os.Open(f)
	defer in.Close()
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestRun_UsageErrors(t *testing.T) {
	cases := [][]string{{"frobnicate"}, {"serve", "--nope"}, {"serve", "extra"}, {"operator"}, {"backup"}}
	for _, args := range cases {
		err := run(context.Background(), args, noEnv, strings.NewReader(""), io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err %v exit %d, want a usage error", args, err, exitCode(err))
		}
	}
}

func TestRun_HelpListsCommandsAndFlags(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"--help"}, noEnv, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "operator create", "backup", "-clock", "-config", "-addr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestRun_SecondStartOnSameDataFailsClearly(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.SFU.UDPPort, cfg.SFU.TCPPort, cfg.TURN.Port, cfg.TURN.TLSPort = 0, 0, 0, 0
	p, err := newPlatform(cfg, io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	_, err = newPlatform(cfg, io.Discard, false)
	if err == nil || !strings.Contains(err.Error(), "another atlas11") {
		t.Fatalf("second open: %v", err)
	}
}
