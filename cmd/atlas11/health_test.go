package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// getHealth fetches a health endpoint and decodes its JSON body.
func getHealth(t *testing.T, url string) (int, healthBody) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b healthBody
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, body %s", url, ct, raw)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v: %s", url, err, raw)
	}
	return resp.StatusCode, b
}

// The real program: /healthz is alive at once, /readyz turns ready once the
// due-work loop has run, and names each of its checks.
func TestHealth_BinaryIsLiveAndReady(t *testing.T) {
	base := startServer(t)
	st, b := getHealth(t, base+"/healthz")
	if st != 200 || b.Status != "ok" || b.Checks["process"].Status != "ok" {
		t.Fatalf("/healthz: %d %+v", st, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, b = getHealth(t, base+"/readyz")
		if st == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st != 200 || b.Status != "ready" {
		t.Fatalf("/readyz: %d %+v", st, b)
	}
	for _, name := range []string{"store", "background", "draining"} {
		if b.Checks[name].Status != "ok" {
			t.Errorf("/readyz check %s: %+v", name, b.Checks[name])
		}
	}
	resp, err := http.Post(base+"/readyz", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
}

// Each readiness check fails on its own, on the real handler and store:
// the due-work loop not started or stalled (the clock moved past
// dueStaleAfter), the drain flag, a store that refuses writes. /healthz
// stays 200 through all of it, and no failure shows a path or system text.
func TestHealth_ReadinessFailsPerCheck(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdminAddr = ""
	cfg.SFU.UDPPort, cfg.SFU.TCPPort, cfg.TURN.Enabled = 0, 0, false
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := newPlatform(cfg, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p.health.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv := httptest.NewServer(p.handler)
	defer srv.Close()

	want := func(what string, code int, failing ...string) {
		t.Helper()
		st, b := getHealth(t, srv.URL+"/readyz")
		if st != code {
			t.Fatalf("%s: /readyz %d, want %d: %+v", what, st, code, b)
		}
		for name, c := range b.Checks {
			bad := false
			for _, f := range failing {
				bad = bad || f == name
			}
			if (c.Status == "fail") != bad {
				t.Fatalf("%s: check %s is %+v", what, name, c)
			}
			if strings.Contains(c.Detail, cfg.DataDir) || strings.Contains(c.Detail, "closed") {
				t.Fatalf("%s: check %s leaks %q", what, name, c.Detail)
			}
		}
		if len(b.Checks) != 3 {
			t.Fatalf("%s: checks %+v", what, b.Checks)
		}
		if st, _ := getHealth(t, srv.URL+"/healthz"); st != 200 {
			t.Fatalf("%s: /healthz %d", what, st)
		}
	}
	want("before the due-work loop runs", 503, "background")
	p.health.dueTicked()
	want("loop ticked", 200)
	advance(dueStaleAfter + time.Second)
	want("loop stalled", 503, "background")
	p.health.dueTicked()
	want("loop ticked again", 200)
	p.health.Draining.Store(true)
	want("draining", 503, "draining")
	p.health.Draining.Store(false)
	want("drain over", 200)

	if err := p.db.Close(); err != nil { // the store now refuses every write
		t.Fatal(err)
	}
	want("probe cached", 200) // at most one probe per probeEvery
	advance(probeEvery)
	p.health.dueTicked()
	want("store refuses writes", 503, "store")
}
