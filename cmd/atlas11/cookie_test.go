package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atlas11/web/webtest"
)

// signUpCookie signs a new client up and returns its session cookie as the
// server set it (the raw Set-Cookie attributes parsed by net/http).
func signUpCookie(t *testing.T, hc *http.Client, base, email string) *http.Cookie {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":"violet tide lamp 9","name":"C","role":"client"}`, email)
	resp, err := hc.Post(base+"/api/v1/auth/signup", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", resp.StatusCode, raw)
	}
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("sign-up set %d cookies: %v", len(cs), resp.Header.Values("Set-Cookie"))
	}
	return cs[0]
}

// meWith asks /me with one cookie and returns the status.
func meWith(t *testing.T, hc *http.Client, base, name, value string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// wantCookie checks a session cookie's name and attributes, and that the
// session is recognised under that name only.
func wantCookie(t *testing.T, hc *http.Client, base string, c *http.Cookie, name string, secure bool) {
	t.Helper()
	if c.Name != name || c.Secure != secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v: want %s, Secure %v, HttpOnly, Path=/, no Domain, SameSite=Lax", c, name, secure)
	}
	if st := meWith(t, hc, base, c.Name, c.Value); st != http.StatusOK {
		t.Fatalf("/me with the session cookie: %d", st)
	}
	other := "__Host-atlas11_session"
	if name == other {
		other = "atlas11_session"
	}
	if st := meWith(t, hc, base, other, c.Value); st != http.StatusUnauthorized {
		t.Fatalf("/me with the same token under %s: %d, want 401", other, st)
	}
}

// Plain HTTP (local use): the plain name, not Secure; a __Host- cookie is
// not believed there.
func TestCookies_PlainHTTPKeepsThePlainName(t *testing.T) {
	base := startServer(t)
	c := signUpCookie(t, http.DefaultClient, base, "plain@cookie.test")
	wantCookie(t, http.DefaultClient, base, c, "atlas11_session", false)
}

// http.secure_cookies (HTTPS at a proxy in front): the __Host- name with
// Secure, and a cookie without the prefix (which anyone on the plain-HTTP
// path or a sibling subdomain could plant) is ignored.
func TestCookies_ForcedSecureUsesTheHostPrefix(t *testing.T) {
	base := startServerWith(t, t.TempDir(), testConfig+"http:\n  secure_cookies: true\n", nil)
	c := signUpCookie(t, http.DefaultClient, base, "proxied@cookie.test")
	wantCookie(t, http.DefaultClient, base, c, "__Host-atlas11_session", true)
}

// HTTPS (tls.mode files): the __Host- cookie, and a real browser accepts it
// on the HTTPS origin: Chromium signs up from the page and is signed in on
// the next request, the cookie invisible to scripts.
func TestCookies_HTTPSUsesTheHostPrefixAndChromiumKeepsIt(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "live", 2001)
	base := startServerWith(t, t.TempDir(), testConfig+"tls:\n  mode: files\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n", nil)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("listening on %q, want https", base)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, certFile)}}}
	c := signUpCookie(t, hc, base, "https@cookie.test")
	wantCookie(t, hc, base, c, "__Host-atlas11_session", true)

	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "https://"))
	ctx := webtest.Chrome(t,
		chromedp.Flag("host-resolver-rules", "MAP "+testDomain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki(cert)),
	)
	origin := "https://" + testDomain + ":" + port
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(cctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("chromium on %s: %v", origin, err)
	}
	got, err := chromedp.Run(cctx, chromedp.Evaluate[string](`(async () => {
		const up = await fetch('/api/v1/auth/signup', { method: 'POST', headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ email: 'browser@cookie.test', password: 'violet tide lamp 9', name: 'B', role: 'client' }) });
		const me = await fetch('/api/v1/me');
		const seen = document.cookie;
		const out = await fetch('/api/v1/auth/signout', { method: 'POST' });
		const after = await fetch('/api/v1/me');
		return [up.status, me.status, '[' + seen + ']', out.status, after.status].join(' ');
	})()`, chromedp.EvalAwaitPromise))
	// Sign-out clears the __Host- cookie: the browser, which replaces such a
	// cookie only with one as strict, sends no session afterwards.
	if want := "201 200 [] 204 401"; err != nil || got != want {
		t.Fatalf("Chromium over HTTPS: sign-up, /me, document.cookie, sign-out, /me = %q (%v), want %q", got, err, want)
	}
	if v, err := chromedp.Run(cctx, chromedp.Evaluate[string](`(async () => (await (await fetch('/api/v1/me')).json()).error.code)()`,
		chromedp.EvalAwaitPromise)); err != nil || v != "not_signed_in" {
		t.Fatalf("after sign-out the browser still sends a session cookie: /me %q (%v), want not_signed_in", v, err)
	}
}
