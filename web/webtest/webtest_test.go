package webtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atlas11/web"
)

// The harness must give a working browser with a fake camera: every browser
// test of the project rests on it.
func TestChrome_FakeCameraAndEmbeddedApp(t *testing.T) {
	srv := httptest.NewServer(web.SecurityHeaders(web.Handler()))
	defer srv.Close()
	ctx := Chrome(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "Atlas11" {
		t.Fatalf("title = %q, %v", title, err)
	}
	tracks, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`navigator.mediaDevices.getUserMedia({video:true,audio:true}).then(s => s.getTracks().length)`,
		chromedp.EvalAwaitPromise))
	if err != nil || tracks != 2 {
		t.Fatalf("fake devices gave %d tracks, %v", tracks, err)
	}
	Screenshot(t, ctx, "webtest-home")
}

// The watch sees what the CSP blocks: an inline script, an inline style
// attribute and eval, each reported; a page from files only reports nothing.
func TestWatch_ReportsEachCSPViolation(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/bad", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>bad</title><p style="color:red">x</p><script>document.title = 'ran'</script>`+
			`<script src="/bad.js"></script>`)
	})
	mux.HandleFunc("/bad.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `try { eval('1') } catch (e) {}`)
	})
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(web.SecurityHeaders(mux))
	defer srv.Close()
	ctx := Chrome(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")); err != nil {
		t.Fatal(err)
	}
	want := []string{"script-src-elem", "style-src-attr", "script-src"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := strings.Join(CSPViolations(ctx), "\n")
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w+" blocked") {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s violation reported; got:\n%s", missing, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title == "ran" {
		t.Fatal("the inline script ran under the CSP")
	}
	ForgetCSPViolations(ctx)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#nav a"))); err != nil {
		t.Fatal(err)
	}
	if v := CSPViolations(ctx); len(v) != 0 {
		t.Fatalf("the app reports violations: %v", v)
	}
}
