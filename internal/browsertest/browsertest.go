// Package browsertest drives Debian's headless Chromium from Go tests with
// chromedp. Tests skip, saying why, when Chromium is absent; CI installs it
// and sets CUSTODIA_REQUIRE_BROWSER=1 so that a missing browser fails there.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path finds Chromium: CUSTODIA_CHROMIUM, then /usr/bin/chromium, then PATH.
func Path() string {
	if p := os.Getenv("CUSTODIA_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless Chromium for a test, with the console messages and
// security warnings (CSP violations among them) it has seen.
type Browser struct {
	Ctx context.Context
	mu  sync.Mutex
	log []string
}

// New starts Chromium for t and stops it when t ends. The flags keep it off
// the network: no background connections, no sync, no component updates.
func New(t testing.TB) *Browser {
	t.Helper()
	exe := Path()
	if exe == "" {
		if os.Getenv("CUSTODIA_REQUIRE_BROWSER") != "" {
			t.Fatal("Chromium is required (CUSTODIA_REQUIRE_BROWSER is set) but was not found; install Debian's chromium package")
		}
		t.Skip("browser test skipped: Chromium not found (install Debian's chromium package, or set CUSTODIA_CHROMIUM)")
	}
	// Our own profile directory, removed on a best-effort basis: Chromium's
	// helper processes may still be writing to it as the test ends.
	profile, err := os.MkdirTemp("", "custodia-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &Browser{Ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			b.add(string(e.Type) + ": " + strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			b.add("exception: " + e.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			b.add(string(e.Entry.Level) + " [" + string(e.Entry.Source) + "]: " + e.Entry.Text)
		}
	})
	if err := chromedp.Run(ctx, log.Enable(), runtime.Enable()); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	b.log = append(b.log, s)
	b.mu.Unlock()
}

// Console returns what the page logged so far: console calls, exceptions and
// browser log entries (CSP violations appear as security errors).
func (b *Browser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

// Problems returns the console lines that signal a fault: errors,
// exceptions, warnings and Content-Security-Policy violations.
func (b *Browser) Problems() []string {
	var out []string
	for _, l := range b.Console() {
		ll := strings.ToLower(l)
		if strings.HasPrefix(ll, "error") || strings.HasPrefix(ll, "exception") || strings.HasPrefix(ll, "warning") ||
			strings.Contains(ll, "content security policy") || strings.Contains(ll, "content-security-policy") {
			out = append(out, l)
		}
	}
	return out
}

// Run runs chromedp actions with a time limit, failing t on error.
func (b *Browser) Run(t testing.TB, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}
