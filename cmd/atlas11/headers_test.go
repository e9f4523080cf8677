package main

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"atlas11/web"
)

// wantSecurityHeaders checks the browser security headers of one answer.
func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": web.CSP,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Permissions-Policy":      web.PermissionsPolicy,
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// The real program, asked from outside: every kind of answer of the main
// listener (API success and each error status, the app and its files, a
// shareable link, a redirect, 404s, health, the WebSocket path refused)
// carries the CSP, frame protection, nosniff, a referrer policy and the
// Permissions-Policy. The policy itself is strict: scripts and styles from
// this origin only, no inline code or eval, no framing, camera and
// microphone for this origin only.
func TestHeaders_EveryKindOfAnswerCarriesThem(t *testing.T) {
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data: 'self'; script", "http:", "https:"} {
		if strings.Contains(web.CSP, bad) {
			t.Fatalf("CSP %q allows %s", web.CSP, bad)
		}
	}
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(web.CSP, d) {
			t.Fatalf("CSP %q lacks %s", web.CSP, d)
		}
	}
	for _, d := range []string{"camera=(self)", "microphone=(self)", "display-capture=(self)"} {
		if !strings.Contains(web.PermissionsPolicy, d) {
			t.Fatalf("Permissions-Policy %q lacks %s", web.PermissionsPolicy, d)
		}
	}

	everyKindOfAnswer(t, startServer(t), http.DefaultTransport, nil)
}

// everyKindOfAnswer asks base for a sample of every kind of answer and
// checks the security headers on each, then more on each if set.
func everyKindOfAnswer(t *testing.T, base string, rt http.RoundTripper, more func(what string, h http.Header)) {
	t.Helper()
	noRedirect := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		status       int
	}{
		{"GET", "/", nil, 200},
		{"HEAD", "/", nil, 200},
		{"GET", "/js/app.js", nil, 200},
		{"GET", "/css/app.css", nil, 200},
		{"GET", "/call/", nil, 200},
		{"GET", "/call/call.js", nil, 200},
		{"GET", "/i18n/fr.json", nil, 200},
		{"GET", "/e/some-expert", nil, 200},
		{"GET", "/call", nil, http.StatusMovedPermanently},
		{"GET", "/index.html", nil, http.StatusMovedPermanently},
		{"GET", "/no-such-file.js", nil, 404},
		{"GET", "/metrics", nil, 404},
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 0},
		{"GET", "/api/v1/settings", nil, 200},
		{"GET", "/api/v1/openapi.json", nil, 200},
		{"GET", "/api/v1/me", nil, 401},
		{"GET", "/api/v1/no-such-route", nil, 404},
		{"DELETE", "/api/v1/settings", nil, 405},
		{"POST", "/api/v1/auth/signin", map[string]string{"Content-Type": "application/json"}, 400},
		{"POST", "/api/v1/auth/signin", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"GET", "/api/v1/rtc", nil, 0},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		what := tc.method + " " + tc.path
		if tc.status != 0 && resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", what, resp.StatusCode, tc.status)
		}
		wantSecurityHeaders(t, what, resp.Header)
		if more != nil {
			more(what, resp.Header)
		}
	}
}

// The compiled binary with HTTPS on (tls.mode files), asked from outside
// over TLS: every kind of answer carries the security headers and HSTS,
// and the session cookie it sets is the __Host- one, Secure, Path=/, no
// Domain, believed under that name only.
func TestHeaders_RealBinaryOverHTTPS(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "live", 3001)
	data := filepath.Join(dir, "data")
	p := spawnWith(t, bin, data, testConfig+"tls:\n  mode: files\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n")
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	})
	if !strings.HasPrefix(p.base, "https://") {
		t.Fatalf("listening on %q, want https", p.base)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, certFile)}}
	defer tr.CloseIdleConnections()
	everyKindOfAnswer(t, p.base, tr, func(what string, h http.Header) {
		if h.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: no Strict-Transport-Security over HTTPS", what)
		}
	})
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	c := signUpCookie(t, hc, p.base, "binary@cookie.test")
	wantCookie(t, hc, p.base, c, "__Host-atlas11_session", true)
}
