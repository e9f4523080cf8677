package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The real binary with JSON logs: every request of the main listener (API,
// app file, 404, health, the signaling path) gets an X-Request-ID and one
// access log line with that ID, the method, the route template (never the
// raw API path or the query), the status, the bytes written, a duration
// and the client address; through a trusted proxy that is the forwarded
// client, from anyone else the TCP peer. An API error body carries the
// same ID.
func TestAccessLog_OneStructuredLinePerRequest(t *testing.T) {
	bin := buildBinary(t)
	cfg := strings.Replace(testConfig, "  level: warn\n", "  level: info\n  format: json\n", 1) +
		"http:\n  trusted_proxies: [127.0.0.2/32]\n"
	p := spawnWith(t, bin, filepath.Join(t.TempDir(), "data"), cfg)
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })

	type want struct {
		method, path, from, xff string
		status                  int
		route, client           string
	}
	cases := []want{
		{"GET", "/api/v1/experts/private-looking-ref?token=SECRET1", "127.0.0.1", "", 404, "/api/v1/experts/:ref", "127.0.0.1"},
		{"POST", "/api/v1/auth/signin", "127.0.0.1", "", 400, "/api/v1/auth/signin", "127.0.0.1"},
		{"GET", "/api/v1/no/such/SECRET2", "127.0.0.1", "", 404, "unmatched", "127.0.0.1"},
		{"GET", "/js/app.js", "127.0.0.1", "", 200, "/js/app.js", "127.0.0.1"},
		{"GET", "/no-such-file", "127.0.0.1", "", 404, "/no-such-file", "127.0.0.1"},
		{"GET", "/e/some-expert", "127.0.0.1", "", 200, "/e/{slug}", "127.0.0.1"},
		{"GET", "/healthz", "127.0.0.1", "198.51.100.7", 200, "/healthz", "127.0.0.1"}, // forged: not a proxy
		{"GET", "/readyz", "127.0.0.2", "198.51.100.7", 0, "/readyz", "198.51.100.7"},  // a trusted proxy
		{"GET", "/api/v1/rtc", "127.0.0.1", "", 0, "/api/v1/rtc", "127.0.0.1"},
	}
	ids := map[string]want{}
	sizes := map[string]int{}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, p.base+c.path, strings.NewReader("{not json"))
		req.Header.Set("Content-Type", "application/json")
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		resp, err := from(c.from).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-ID")
		if len(id) != 24 {
			t.Fatalf("%s %s: X-Request-ID %q", c.method, c.path, id)
		}
		if c.status != 0 && resp.StatusCode != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
		c.status = resp.StatusCode
		if strings.HasPrefix(c.path, "/api/v1/") && resp.StatusCode >= 400 && c.route != "/api/v1/rtc" {
			var eb struct {
				Error struct {
					RequestID string `json:"request_id"`
				} `json:"error"`
			}
			if json.Unmarshal(body, &eb) != nil || eb.Error.RequestID != id {
				t.Fatalf("%s %s: error body %s lacks request_id %s", c.method, c.path, body, id)
			}
		}
		ids[id] = c
		sizes[id] = len(body)
	}

	var lines []map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lines = lines[:0]
		for _, l := range strings.Split(p.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "request" {
				lines = append(lines, rec)
			}
		}
		if len(lines) >= len(cases) || time.Now().After(deadline) {
			break
		}
	}
	seen := map[string]bool{}
	for _, rec := range lines {
		id, _ := rec["request_id"].(string)
		c, ok := ids[id]
		if !ok {
			continue
		}
		seen[id] = true
		what := c.method + " " + c.path
		if rec["method"] != c.method || rec["route"] != c.route || rec["client"] != c.client ||
			rec["status"] != float64(c.status) || rec["bytes"] != float64(sizes[id]) {
			t.Errorf("%s: log line %v, want method %s route %s client %s status %d bytes %d", what, rec, c.method, c.route, c.client, c.status, sizes[id])
		}
		if d, ok := rec["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s: duration_ms %v", what, rec["duration_ms"])
		}
	}
	for id, c := range ids {
		if !seen[id] {
			t.Errorf("%s %s: no access log line with request_id %s", c.method, c.path, id)
		}
	}
	for _, secret := range []string{"SECRET1", "SECRET2", "private-looking-ref"} {
		if strings.Contains(p.logs.String(), secret) {
			t.Errorf("the log holds %q from a path or query", secret)
		}
	}
}

// atlas11 version prints what -ldflags set (else the VCS information Go
// recorded), and the admin listener exports the same as
// atlas11_build_info{version,revision,go_version} 1.
func TestVersion_CommandAndBuildInfoMetric(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "atlas11")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test -X main.revision=0123abcd", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	want := "atlas11 v9.9.9-test (revision 0123abcd, " + runtime.Version() + ")\n"
	if err != nil || string(out) != want {
		t.Fatalf("atlas11 version: %q %v, want %q", out, err, want)
	}
	if err := exec.Command(bin, "version", "extra").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 2 {
		t.Fatalf("atlas11 version extra: %v, want exit status 2", err)
	}
	p := spawn(t, bin, filepath.Join(t.TempDir(), "data"))
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	line := `atlas11_build_info{go_version="` + runtime.Version() + `",revision="0123abcd",version="v9.9.9-test"} 1`
	if !strings.Contains(string(raw), line) {
		t.Fatalf("/metrics lacks %s", line)
	}
}
