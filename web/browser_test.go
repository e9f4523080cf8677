package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Browser helpers shared by the web tests. Each step runs with its own
// timeout and fails the test with what it was doing, so a broken screen
// reads as "waiting for #pay" rather than a bare deadline error.

const stepTimeout = 20 * time.Second

func do(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageState(ctx))
	}
}

// pageState describes the page for a failure message: URL, alerts shown and
// the start of the main text.
func pageState(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`location.href + "\n" +
		[...document.querySelectorAll('[role=alert]:not([hidden]), .error:not([hidden])')].map(e => 'ALERT: ' + e.textContent).join("\n") +
		"\n" + (document.querySelector('main') || document.body).innerText.slice(0, 1500)`))
	return s
}

// eval runs JavaScript, awaiting a promise, and returns its JSON value.
func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v\n%s", firstLine(js), err, pageState(ctx))
	}
	return v
}

// run evaluates JavaScript for its effect.
func run(t testing.TB, ctx context.Context, js string) {
	t.Helper()
	eval[any](t, ctx, "(async () => { "+js+" ; return null })()")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// open navigates to url and waits until the app has drawn its screen.
func open(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	do(t, ctx, "open "+url, chromedp.Navigate(url))
	waitScreen(t, ctx)
}

// waitScreen waits until the app is started and no screen is loading.
func waitScreen(t testing.TB, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, "screen drawn", `document.body.dataset.ready === '1' && !document.querySelector('main[aria-busy]')`)
}

// waitJS polls a JavaScript condition. Errors while polling (a page that is
// reloading has no context to evaluate in) count as "not yet".
func waitJS(t testing.TB, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var last error
	for time.Now().Before(deadline) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("wait for %s: timed out (last error: %v)\n%s", what, last, pageState(ctx))
}

// goHash switches the app to a route without reloading it.
func goHash(t testing.TB, ctx context.Context, route string) {
	t.Helper()
	run(t, ctx, fmt.Sprintf(`location.hash = %q; await new Promise(r => setTimeout(r, 60))`, route))
	waitScreen(t, ctx)
}

// mainText returns the text of <main>.
func mainText(t testing.TB, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.querySelector('main').innerText`)
}

func wantText(t testing.TB, ctx context.Context, want ...string) {
	t.Helper()
	got := mainText(t, ctx)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("screen does not show %q:\n%s", w, pageState(ctx))
		}
	}
}

// setTZ makes the tab live in a time zone and locale, as a viewer abroad.
func setTZ(t testing.TB, ctx context.Context, tz string) {
	t.Helper()
	do(t, ctx, "set time zone "+tz, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz})
		return err
	}))
}

// axeViolation is what axe-core reports for one broken rule.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// axeSource reads axe.min.js from where .ci/npm-deps.sh installed it.
func axeSource(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ATLAS11_NPM_DIR")
	if dir == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("no home directory to find axe-core: %v", err)
			}
			base = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(base, "atlas11", "npm")
	}
	p := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("axe-core not found at %s: run .ci/npm-deps.sh (CI runs it): %v", p, err)
	}
	return string(b)
}

// checkAxe injects axe-core into the page and fails on any serious or
// critical violation (WCAG 2.x A and AA rules).
func checkAxe(t testing.TB, ctx context.Context, axe, page string) {
	t.Helper()
	run(t, ctx, `if (!window.axe) (0, eval)(`+jsString(axe)+`)`)
	raw := eval[string](t, ctx, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
		.then(r => JSON.stringify(r.violations))`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("axe result: %v", err)
	}
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target)+" "+n.HTML)
		}
		t.Errorf("axe on %s: %s (%s): %s\n  %s", page, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
