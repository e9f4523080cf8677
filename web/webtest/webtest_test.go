package webtest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atlas11/web"
)

// The harness must give a working browser with a fake camera: every browser
// test of the project rests on it.
func TestChrome_FakeCameraAndEmbeddedApp(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
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
