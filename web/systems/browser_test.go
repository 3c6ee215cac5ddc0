package systems_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// TestBrowserLiveValidationAndPages drives the area in headless Chromium: the htmx name
// check, the Markdown preview and the member search work under the strict CSP. With
// SHEPHERD_SCREENSHOTS set to a directory it also saves a screenshot of each page.
func TestBrowserLiveValidationAndPages(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		if os.Getenv("SHEPHERD_REQUIRE_BROWSER") != "" {
			t.Fatal("Chromium is required for browser tests: apt-get install -y chromium")
		}
		t.Skip("Chromium not installed")
	}
	env := apptest.Start(t)
	ctx := browser(t)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	run("sign in as dana",
		chromedp.Navigate(env.URL+"/systems"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-dana"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="pick-dana"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="systems-table"]`)))
	shot(t, ctx, "systems-01-list")

	run("live name check",
		chromedp.Navigate(env.URL+"/systems/new"),
		chromedp.WaitVisible(chromedp.CSS(`#f-name`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "inventory-syncer"),
		chromedp.WaitVisible(chromedp.CSS(`#f-name-help.field-error`)))
	help := text("#f-name-help")
	if !strings.Contains(help, "16/15") || strings.Contains(help, "NAME_TOO_LONG") {
		t.Fatalf("help line %q", help)
	}
	// The code is for quoting, in the title; people read words.
	if code, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-name-help [title]').title`)); err != nil || code != "NAME_TOO_LONG" {
		t.Fatalf("help line's code %q (%v)", code, err)
	}
	run("shorten and preview",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "\b\b"), // "inventory-sync": 14 characters, a warning
		chromedp.WaitVisible(chromedp.CSS(`#f-name-help.name-warning`)),
		chromedp.SendKeys(chromedp.CSS(`#f-description`), "Syncs **stock** levels.\n\n<script>alert(1)</script>\n\n- warehouses\n- shops"),
		chromedp.Click(chromedp.CSS(`[data-testid="preview-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-description-preview strong`)))
	preview := text("#f-description-preview")
	if !strings.Contains(preview, "stock") || strings.Contains(preview, "alert") {
		t.Fatalf("preview %q", preview)
	}
	shot(t, ctx, "systems-02-new")
	run("create", chromedp.Click(chromedp.CSS(`[data-testid="create-system"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="system-name"]`)))
	shot(t, ctx, "systems-03-detail")

	run("new service", chromedp.Click(chromedp.CSS(`[data-testid="new-service"]`)), chromedp.WaitVisible(chromedp.CSS(`#f-name`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "api"), chromedp.SendKeys(chromedp.CSS(`#f-description`), "The public API."),
		chromedp.Click(chromedp.CSS(`[data-testid="create-service"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="service-name"]`)))
	shot(t, ctx, "systems-04-service")

	run("members",
		chromedp.Click(chromedp.CSS(`[data-testid="parent-system"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="manage-members"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="manage-members"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="member-search"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="member-search"]`), "ali"),
	)
	waitJS(t, ctx, `document.querySelectorAll('#f-user_id option:not([value=""])').length > 0`)
	options := text("#f-user_id")
	run("add member", chromedp.Click(chromedp.CSS(`[data-testid="add-member"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-member="alice"]`)))
	if !strings.Contains(options, "Alice Developer") {
		t.Fatalf("search options %q", options)
	}
	shot(t, ctx, "systems-05-members")

	run("history tab", chromedp.Navigate(env.URL+"/systems"), chromedp.Click(chromedp.CSS(`[data-system="inventory-sync"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tab-history"]`)), chromedp.Click(chromedp.CSS(`[data-testid="tab-history"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="history"]`)))
	shot(t, ctx, "systems-06-history")

	run("danger zone", chromedp.Click(chromedp.CSS(`[data-testid="tab-overview"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="danger-zone"] summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="danger-zone"] summary`)), chromedp.WaitVisible(chromedp.CSS(`#f-confirm_name`)),
		chromedp.SendKeys(chromedp.CSS(`#f-confirm_name`), "inventory-sync"), chromedp.Click(chromedp.CSS(`[data-testid="delete-system"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="delete-error"]`)))
	shot(t, ctx, "systems-07-delete-restricted")

	run("refused form", chromedp.Navigate(env.URL+"/systems/new"), chromedp.WaitVisible(chromedp.CSS(`#f-name`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "shop"), chromedp.SendKeys(chromedp.CSS(`#f-description`), "kept"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-system"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-errors"]`)))
	if help := text("#f-name-help"); !strings.Contains(help, "already exists") || strings.Contains(help, "NAME_TAKEN") {
		t.Fatalf("refused form help %q", help)
	}
	if code, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-name-help [title]').title`)); err != nil || code != "NAME_TAKEN" {
		t.Fatalf("refused form help's code %q (%v)", code, err)
	}
	shot(t, ctx, "systems-08-refused-form")
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Flag("no-sandbox", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser; must not carry a timeout
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return tctx
}

func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("SHEPHERD_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
}

// waitJS polls a boolean expression (htmx swaps that leave nothing "visible" to wait for).
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", expr)
}
