package web_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the test's fixed zone, whatever the machine has

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/web"
)

// signInBrowser gives the browser acct's real session cookie.
func signInBrowser(f *wordsFixture, acct *apptest.Account) chromedp.Action {
	u, _ := url.Parse(f.env.Server.URL)
	token := ""
	for _, c := range acct.Client.Jar.Cookies(u) {
		if c.Name == web.SessionCookie {
			token = c.Value
		}
	}
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := network.ClearBrowserCookies().Do(ctx); err != nil {
			return err
		}
		return network.SetCookie(web.SessionCookie, token).WithURL(f.env.Server.URL).WithHTTPOnly(true).Do(ctx)
	})
}

// screenshot saves the page at 1280 px wide into $CUSTODIA_SHOTS, when set,
// for people to look at.
func screenshot(t *testing.T, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		dir := os.Getenv("CUSTODIA_SHOTS")
		if dir == "" {
			return nil
		}
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		t.Logf("screenshot %s", filepath.Join(dir, name))
		return os.WriteFile(filepath.Join(dir, name), png, 0o644)
	})
}

func evalAwait(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// TestOfficerFindsAPersonByNameAndExportsAndPatientReadsWhoAccessed is the
// privacy officer's and the patient's main tasks in Chromium, in a fixed
// time zone so localtime.js's rewrite can be checked.
func TestOfficerFindsAPersonByNameAndExportsAndPatientReadsWhoAccessed(t *testing.T) {
	b := browsertest.New(t)
	f := newWordsFixture(t)
	const zone = "America/New_York"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	var table, filter, csvText string
	b.Run(t,
		emulation.SetTimezoneOverride(zone),
		chromedp.EmulateViewport(1280, 900),
		signInBrowser(f, f.officer),
		chromedp.Navigate(f.env.Server.URL+"/privacy/audit"),
		chromedp.WaitVisible("#who"),
		screenshot(t, "privacy_audit.png"),
		chromedp.SendKeys("#who", "Dana"),
		chromedp.Submit("#who"),
		chromedp.WaitVisible(".filter-on"),
		chromedp.Text(".filter-on", &filter),
		chromedp.Text("table.audit tbody", &table),
		screenshot(t, "privacy_audit_dana.png"),
		// The export link, fetched as the browser would download it.
		chromedp.Evaluate(`fetch(document.querySelector("a[download]").href).then(r => r.text())`, &csvText, evalAwait),
	)
	// A name several people share asks which one.
	var choices string
	b.Run(t,
		chromedp.Navigate(f.env.Server.URL+"/privacy/audit"),
		chromedp.WaitVisible("#who"),
		screenshot(t, "privacy_audit_again.png"),
		chromedp.SendKeys("#who", "a"),
		chromedp.Submit("#who"),
		chromedp.WaitVisible("ul.choices"),
		chromedp.Text("ul.choices", &choices),
		screenshot(t, "privacy_audit_choices.png"),
	)
	nb := strings.NewReplacer("\u00a0", " ", "\u202f", " ")
	filter, table = nb.Replace(filter), nb.Replace(table)
	if !strings.Contains(choices, "Dana Demo") || !strings.Contains(choices, "Sam Other") {
		t.Fatalf("choices %q", choices)
	}
	if !strings.Contains(filter, "Dana Demo") {
		t.Fatalf("filter line %q", filter)
	}
	if !strings.Contains(table, "Dana Demo") || !strings.Contains(table, "Viewed a file") || strings.Contains(table, "Sam Other") {
		t.Fatalf("Dana's entries: %q", table)
	}
	if !strings.Contains(csvText, "Dana Demo") || !strings.Contains(csvText, f.danaID) || strings.Contains(csvText, "Sam Other") {
		t.Fatalf("export of Dana's entries: %.400q", csvText)
	}

	var lines, stamp, shown, title string
	b.Run(t,
		signInBrowser(f, f.anna),
		chromedp.Navigate(f.env.Server.URL+"/me/access-history"),
		chromedp.WaitVisible("table.history"),
		chromedp.WaitVisible(`time.when[data-local="1"]`),
		chromedp.Text("table.history tbody", &lines),
		chromedp.AttributeValue("table.history time.when", "datetime", &stamp, nil),
		chromedp.Text("table.history time.when", &shown),
		chromedp.AttributeValue("table.history time.when", "title", &title, nil),
		screenshot(t, "access_history.png"),
	)
	lines = nb.Replace(lines)
	if !strings.Contains(lines, "Dana Demo viewed 8 images of your case Rhinoplasty") || strings.Contains(lines, "checked your age") {
		t.Fatalf("history lines: %q", lines)
	}
	at, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		t.Fatalf("datetime %q: %v", stamp, err)
	}
	local := at.In(loc)
	if !strings.Contains(shown, local.Format("15:04")) || strings.Contains(shown, "UTC") || !strings.Contains(title, at.UTC().Format("15:04")+" UTC") {
		t.Fatalf("time %s shown as %q (title %q), want %s local time with UTC on hover", stamp, shown, title, local.Format("15:04 MST"))
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}
