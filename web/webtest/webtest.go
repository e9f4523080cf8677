// Package webtest starts headless Chromium for browser tests: Debian's
// chromium with a fake camera and microphone, isolated from the network.
package webtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromePath is where Debian installs Chromium; CHROMIUM overrides it.
func ChromePath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return "/usr/bin/chromium"
}

// Chrome starts a browser for the test and returns the context of its first
// tab. The browser is closed when the test ends. A missing browser fails the
// test: CI installs it, so skipping would hide missing work. extra adds
// flags (say, host-resolver rules for a test domain).
func Chrome(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromePath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("chromium not found at %s (run .ci/run, which installs it): %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		// Without these Chromium keeps dialling Google's hosts, which this
		// machine refuses.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		// Fake camera and microphone, granted without a prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Hidden tabs must keep decoding: tests open several at once.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// Media in a tab that is not in front must not be suspended either.
		chromedp.Flag("disable-background-media-suspend", true),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now so a broken install fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := watchCSP(t, ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// Tab opens another tab in the same browser as ctx.
func Tab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(ctx)
	if err := chromedp.Do(tctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(cancel)
	if err := watchCSP(t, tctx); err != nil {
		t.Fatal(err)
	}
	return tctx
}

// Screenshot saves a PNG of the tab's viewport as name.png in the folder named
// by ATLAS11_SCREENSHOTS, when it is set, so a person can look at the screens.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ATLAS11_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshots dir: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("write %s: %v", file, err)
	}
}
