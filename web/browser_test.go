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

	"atlas11/web/webtest"
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

// open navigates to url and waits until the app has drawn its screen. The
// same URL again reloads, so the screen shows fresh data.
func open(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	cur, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.body && (document.body.dataset.ready = '0'), location.href)`))
	cancel()
	if cur == url {
		do(t, ctx, "reload "+url, chromedp.Reload())
	} else {
		do(t, ctx, "open "+url, chromedp.Navigate(url))
	}
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
	run(t, ctx, fmt.Sprintf(`document.body.dataset.ready = '0'; location.hash = %q`, route))
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
	// Inject axe-core once per page: its source is large.
	if !eval[bool](t, ctx, `!!window.axe`) {
		run(t, ctx, `(0, eval)(`+jsString(axe)+`)`)
	}
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

// persona opens a tab in its own browser context (own cookies and storage),
// so several people can use one browser at once, in their own time zone.
func persona(t testing.TB, browser context.Context, tz string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open persona tab: %v", err)
	}
	webtest.Watch(t, ctx)
	if tz != "" {
		setTZ(t, ctx, tz)
	}
	return ctx
}

// fill sets a form control's value as a person typing would, events included.
func fill(t testing.TB, ctx context.Context, sel, value string) {
	t.Helper()
	run(t, ctx, fmt.Sprintf(`const el = document.querySelector(%q);
		if (!el) throw new Error('no element ' + %q);
		el.focus(); el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}))`, sel, sel, value))
}

// check sets a checkbox or radio.
func check(t testing.TB, ctx context.Context, sel string, on bool) {
	t.Helper()
	run(t, ctx, fmt.Sprintf(`const el = document.querySelector(%q); if (!el) throw new Error('no element ' + %q);
		if (el.checked !== %t) el.click()`, sel, sel, on))
}

// click clicks an element found by CSS selector.
func click(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	run(t, ctx, fmt.Sprintf(`const el = document.querySelector(%q); if (!el) throw new Error('no element ' + %q); el.click()`, sel, sel))
}

// submit submits a form and waits for the app to finish the request.
func submit(t testing.TB, ctx context.Context, form string) {
	t.Helper()
	run(t, ctx, fmt.Sprintf(`const f = document.querySelector(%q); if (!f) throw new Error('no form ' + %q); f.requestSubmit()`, form, form))
	waitJS(t, ctx, "form "+form+" done", fmt.Sprintf(`!document.querySelector('%s[aria-busy]') && !document.querySelector('main[aria-busy]') && document.body.dataset.ready === '1'`, form))
}

// fieldError returns the error shown next to a control ("" when none).
func fieldError(t testing.TB, ctx context.Context, form, name string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(() => { const c = document.querySelector('%s [name=%s]'); if (!c) return 'NO CONTROL';
		const e = document.getElementById(c.id + '-err') || document.querySelector('%s [data-error-for=%s]');
		return e && !e.hidden ? e.textContent : '' })()`, form, name, form, name))
}

// signInUI signs a person in through the sign-in screen.
func signInUI(t testing.TB, ctx context.Context, base, email, pass string) {
	t.Helper()
	open(t, ctx, base+"/#/signin")
	fill(t, ctx, "input[name=email]", email)
	fill(t, ctx, "input[name=password]", pass)
	submit(t, ctx, "main form")
	waitJS(t, ctx, "signed in", `!location.hash.startsWith('#/signin') && document.querySelector('#nav .whoami')`)
	waitScreen(t, ctx)
}

// joinCall opens the call page of a room, passes the device check and joins.
func joinCall(t testing.TB, ctx context.Context, base, room, shot string) {
	t.Helper()
	open(t, ctx, base+"/#/call/"+room)
	waitJS(t, ctx, "device check ready", `document.querySelector('#join') && !document.querySelector('#join').disabled`)
	if shot != "" {
		waitJS(t, ctx, "camera preview playing", `!document.querySelector('#preview') || document.querySelector('#preview').videoWidth > 0`)
		webtest.Screenshot(t, ctx, shot)
	}
	click(t, ctx, "#join")
	waitJS(t, ctx, "in the call", `document.querySelector('#stage') && document.querySelector('#people li')`)
}

// waitRemoteVideo waits until a remote video in the call has decoded frames
// and keeps decoding (its frame count rises).
func waitRemoteVideo(t testing.TB, ctx context.Context) {
	t.Helper()
	frames := `[...document.querySelectorAll('#remote video:not(#v-self)')].reduce((n, v) => Math.max(n, v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : 0), 0)`
	waitJS(t, ctx, "remote video decoding", frames+` > 5`)
	first := eval[int](t, ctx, frames)
	waitJS(t, ctx, "remote video still decoding", fmt.Sprintf(`%s > %d`, frames, first+5))
}

// checkPhone shows the current screen on a phone-sized viewport: nothing may
// overflow sideways and axe-core must still pass; then the desktop size is
// restored.
func checkPhone(t testing.TB, ctx context.Context, axe, name string) {
	t.Helper()
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	defer do(t, ctx, "desktop viewport", chromedp.EmulateReset())
	waitJS(t, ctx, "phone layout", `window.innerWidth <= 400`)
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("phone %s: the page is %d px wider than the screen", name, w)
	}
	checkAxe(t, ctx, axe, "phone "+name)
	webtest.Screenshot(t, ctx, name+"-phone")
}
