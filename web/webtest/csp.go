package webtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Every tab these helpers open watches for Content-Security-Policy
// violations and fails its test on any: the app must work under the
// headers the binary sends, and a walk that only passes with them off
// proves nothing. The page reports each securitypolicyviolation event to
// Go through a binding; Permissions-Policy header errors only reach the
// console, so that is watched too.

// cspReport is what the page sends for one violation.
type cspReport struct {
	Directive string `json:"directive"`
	Blocked   string `json:"blocked"`
	Source    string `json:"source"`
	Line      int    `json:"line"`
	Sample    string `json:"sample"`
}

const cspBinding = "atlas11ReportCSP"

// cspListenJS runs in every document before its own scripts.
const cspListenJS = `document.addEventListener('securitypolicyviolation', (e) => {
  const f = window.` + cspBinding + `;
  if (typeof f === 'function') f({ directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample }).catch(() => {});
}, true);`

type cspLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *cspLog) add(s string) {
	l.mu.Lock()
	l.seen = append(l.seen, s)
	l.mu.Unlock()
}

var cspLogs sync.Map // *chromedp.Target -> *cspLog

func targetOf(ctx context.Context) *chromedp.Target {
	if c := chromedp.FromContext(ctx); c != nil {
		return c.Target
	}
	return nil
}

// watchCSP starts the watch on the tab of ctx, which has run once, and
// fails t at its end if anything was reported.
func watchCSP(t testing.TB, ctx context.Context) error {
	log := &cspLog{}
	tgt := targetOf(ctx)
	cspLogs.Store(tgt, log)
	report := func(_ context.Context, r cspReport) (chromedp.Void, error) {
		log.add(fmt.Sprintf("%s blocked %q at %s:%d %s", r.Directive, r.Blocked, r.Source, r.Line, r.Sample))
		return chromedp.Void{}, nil
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Permissions-Policy") ||
				strings.Contains(m.Text, "Permissions policy") {
				log.add("console: " + m.Text)
			}
		}
	}()
	err := chromedp.Do(ctx,
		chromedp.ExposeFunc(cspBinding, report),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListenJS})
			return err
		}))
	if err != nil {
		return fmt.Errorf("watch CSP violations: %w", err)
	}
	t.Cleanup(func() {
		for _, v := range CSPViolations(ctx) {
			t.Errorf("Content-Security-Policy violation in the browser: %s", v)
		}
		cspLogs.Delete(tgt)
	})
	return nil
}

// CSPViolations returns what the tab of ctx (from Chrome or Tab) reported
// so far.
func CSPViolations(ctx context.Context) []string {
	v, ok := cspLogs.Load(targetOf(ctx))
	if !ok {
		return nil
	}
	l := v.(*cspLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// ForgetCSPViolations clears the tab's reports, for a test that provokes
// a violation on purpose.
func ForgetCSPViolations(ctx context.Context) {
	if v, ok := cspLogs.Load(targetOf(ctx)); ok {
		l := v.(*cspLog)
		l.mu.Lock()
		l.seen = nil
		l.mu.Unlock()
	}
}

// Watch starts the CSP watch on a tab the test opened itself (say, in its
// own browser context); Chrome and Tab do it already.
func Watch(t testing.TB, ctx context.Context) {
	t.Helper()
	if err := watchCSP(t, ctx); err != nil {
		t.Fatal(err)
	}
}
