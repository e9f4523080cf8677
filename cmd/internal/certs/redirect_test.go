package certs

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The redirect keeps host, path and query, drops the plain-HTTP port, adds
// the HTTPS one unless it is 443, and refuses a Host that would make the
// Location point somewhere else.
func TestRedirect_KeepsHostPathAndQuery(t *testing.T) {
	cases := []struct {
		port, method, host, target string
		code                       int
		want                       string
	}{
		{"443", "GET", "visio.example.org", "/a/b?c=1", 301, "https://visio.example.org/a/b?c=1"},
		{"443", "GET", "visio.example.org:80", "/", 301, "https://visio.example.org/"},
		{"8443", "HEAD", "visio.example.org:80", "/x", 301, "https://visio.example.org:8443/x"},
		{"443", "POST", "visio.example.org", "/api/v1/sign-in", 308, "https://visio.example.org/api/v1/sign-in"},
		{"443", "GET", "[2001:db8::1]:80", "/", 301, "https://[2001:db8::1]/"},
		{"8443", "GET", "[2001:db8::1]", "/", 301, "https://[2001:db8::1]:8443/"},
		{"443", "GET", "visio.example.org", "//evil.example/", 301, "https://visio.example.org//evil.example/"},
		{"443", "GET", "evil.example@visio.example.org", "/", 400, ""},
		{"443", "GET", "", "/", 400, ""},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, "http://placeholder"+tc.target, nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		Redirect(tc.port).ServeHTTP(w, r)
		if w.Code != tc.code || w.Header().Get("Location") != tc.want {
			t.Errorf("%s %s%s (https port %s): %d %q, want %d %q", tc.method, tc.host, tc.target, tc.port,
				w.Code, w.Header().Get("Location"), tc.code, tc.want)
		}
	}
}

func TestHSTS_OnEveryAnswer(t *testing.T) {
	h := HSTS(http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "https://x.example/", nil))
	if got := w.Header().Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Fatalf("HSTS %q", got)
	}
}
