package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The app's files hold nothing the CSP would block: no inline script or
// style element, no event-handler or style attribute, no javascript: URL,
// no eval or string timers in the scripts. The browser walks prove the
// screens work under the policy; this names the line at fault at once.
func TestStatic_NothingInlineForTheCSP(t *testing.T) {
	html := []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`),
		regexp.MustCompile(`(?i)<style[\s>]`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	scriptSrc := regexp.MustCompile(`(?i)<script\s[^>]*\bsrc=`)
	js := []*regexp.Regexp{
		regexp.MustCompile(`\beval\s*\(`),
		regexp.MustCompile(`\bnew\s+Function\s*\(`),
		regexp.MustCompile(`\bset(?:Timeout|Interval)\s*\(\s*['"` + "`" + `]`),
		regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write`),
		regexp.MustCompile(`setAttribute\(\s*['"]style['"]|setAttribute\(\s*['"]on`),
		regexp.MustCompile(`javascript:`),
	}
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(FS(), path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(raw), "\n") {
			var bad []*regexp.Regexp
			switch {
			case strings.HasSuffix(path, ".html"):
				bad = html
			case strings.HasSuffix(path, ".js"):
				bad = js
			}
			for _, re := range bad {
				if m := re.FindString(line); m != "" && !(re == html[0] && scriptSrc.MatchString(line)) {
					t.Errorf("%s:%d: %q would be blocked by the CSP: %s", path, i+1, m, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// SecurityHeaders sets every header on every answer of the handler it
// wraps, 404s and redirects included.
func TestSecurityHeaders_OnEveryAnswer(t *testing.T) {
	srv := httptest.NewServer(SecurityHeaders(Handler()))
	defer srv.Close()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/js/app.js", "/call/", "/call", "/nope", "/e/x"} {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, v := range map[string]string{"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Permissions-Policy": PermissionsPolicy} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s (%d): %s = %q", path, resp.StatusCode, k, got)
			}
		}
	}
}
