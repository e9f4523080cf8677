package web

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"atlas11/web/webtest"
)

// These tests run the app's public screens from the embedded files alone
// (no API behind them: the screens must still say something useful). The
// journeys against the real binary are in e2e_test.go.

func staticServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(SecurityHeaders(Handler())) // the binary's headers
	t.Cleanup(srv.Close)
	return srv.URL
}

// LANG-1, TIME-1: French by default; ?lang=en switches to English and the
// choice is remembered; the switch goes back to French; prices and dates
// follow the viewer's locale and time zone.
func TestBrowser_LANG1_FrenchByDefaultEnglishOnRequest(t *testing.T) {
	base := staticServer(t)
	ctx := webtest.Chrome(t)

	open(t, ctx, base+"/")
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "fr" {
		t.Fatalf("default html lang = %q, want fr", lang)
	}
	wantText(t, ctx, "Partagez votre expertise en ligne", "Devenir expert")
	webtest.Screenshot(t, ctx, "public-home-fr")

	open(t, ctx, base+"/?lang=en#/help")
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "en" {
		t.Fatalf("html lang with ?lang=en = %q, want en", lang)
	}
	wantText(t, ctx, "frequently asked questions", "Up to 48 hours before the start time", "90%")
	// The choice survives a visit without the parameter.
	open(t, ctx, base+"/#/signin")
	wantText(t, ctx, "Sign in", "Email address")
	webtest.Screenshot(t, ctx, "public-signin-en")

	// The switch in the header goes back to French.
	run(t, ctx, `const s = document.querySelector('#lang'); s.value = 'fr'; s.dispatchEvent(new Event('change'))`)
	waitJS(t, ctx, "French page", `document.documentElement.lang === 'fr' && document.body.dataset.ready === '1'`)
	wantText(t, ctx, "Se connecter", "Adresse e-mail")

	// Prices and dates: the help page quotes minimum prices; French writes
	// "10,00 €", English (en-GB here) "€10.00".
	open(t, ctx, base+"/#/help")
	wantText(t, ctx, "10,00\u00a0€", "Jusqu'à 48 heures avant l'heure de début")
	open(t, ctx, base+"/?lang=en#/help")
	wantText(t, ctx, "€10.00")

	// TIME-1: the same instant reads in the viewer's own zone.
	setTZ(t, ctx, "America/New_York")
	ny := eval[string](t, ctx, `import('/js/i18n.js').then(m => m.fmtDateTime('2026-03-10T15:00:00Z'))`)
	setTZ(t, ctx, "Asia/Tokyo")
	tokyo := eval[string](t, ctx, `import('/js/i18n.js').then(m => m.fmtDateTime('2026-03-10T15:00:00Z'))`)
	if !strings.Contains(ny, "11:00") || !strings.Contains(tokyo, "12:00") {
		t.Fatalf("15:00 UTC shown as %q in New York and %q in Tokyo", ny, tokyo)
	}
}

// Key public pages pass axe-core with no serious or critical violation, on a
// desktop and on a phone-sized screen, and nothing overflows sideways on the
// phone.
func TestBrowser_A11y_PublicPagesAxe(t *testing.T) {
	base := staticServer(t)
	axe := axeSource(t)
	ctx := webtest.Chrome(t)
	pages := []string{"/", "/#/help", "/#/signin", "/#/signup", "/#/e/nobody"}
	for _, p := range pages {
		open(t, ctx, base+p)
		checkAxe(t, ctx, axe, p)
	}
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	for _, p := range pages {
		open(t, ctx, base+p)
		checkAxe(t, ctx, axe, "phone "+p)
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("phone %s: page is %d px wider than the screen", p, w)
		}
	}
	open(t, ctx, base+"/#/signup")
	webtest.Screenshot(t, ctx, "public-signup-phone")
}

// Keyboard alone: the first Tab reaches the skip link, which moves focus to
// the content; a form submitted with Enter shows its error next to the field
// that caused it, and announces it.
func TestBrowser_A11y_KeyboardAndInlineErrors(t *testing.T) {
	base := staticServer(t)
	ctx := webtest.Chrome(t)
	open(t, ctx, base+"/#/signin")
	do(t, ctx, "press Tab", chromedp.KeyEvent("\t"))
	if id := eval[string](t, ctx, `document.activeElement.id`); id != "skip" {
		t.Fatalf("first Tab focused %q, want the skip link", id)
	}
	do(t, ctx, "focus email", chromedp.Focus(chromedp.CSS(`input[name=email]`)))
	do(t, ctx, "type email and Enter", chromedp.KeyEvent("someone@example.com\r"))
	waitJS(t, ctx, "password error", `!document.querySelector('[data-error-for=password]').hidden`)
	got := eval[string](t, ctx, `document.activeElement.name + '|' + document.activeElement.getAttribute('aria-invalid') + '|' + document.querySelector('[data-error-for=password]').textContent`)
	if got != "password|true|Saisissez votre mot de passe." {
		t.Fatalf("after Enter with no password: %q", got)
	}
	waitJS(t, ctx, "announcement", `document.getElementById('live').textContent === 'Saisissez votre mot de passe.'`)
}

// errRecorder collects Errorf calls so a test can check that a checker
// reports what it should.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The axe-core harness must be able to fail: an unlabelled field and an
// image without a text alternative are reported as serious/critical.
func TestBrowser_A11y_AxeHarnessReportsViolations(t *testing.T) {
	base := staticServer(t)
	axe := axeSource(t)
	ctx := webtest.Chrome(t)
	open(t, ctx, base+"/#/help")
	run(t, ctx, `document.querySelector('main').append(Object.assign(document.createElement('input'), {type: 'text'}), document.createElement('img'))`)
	rec := &errRecorder{TB: t}
	checkAxe(rec, ctx, axe, "broken page")
	all := strings.Join(rec.errs, "\n")
	if !strings.Contains(all, "label") || !strings.Contains(all, "image-alt") {
		t.Fatalf("axe did not report the unlabelled input and the image without alt:\n%s", all)
	}
}
