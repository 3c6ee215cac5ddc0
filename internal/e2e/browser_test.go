package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// browser starts headless Chromium with the flags this network needs (no background
// traffic) and returns a context for driving one tab for up to three minutes.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browserFor(t, 3*time.Minute)
}

// browserFor is browser with a longer or shorter limit.
func browserFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	path := ""
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if lp, err := exec.LookPath("chromium"); err == nil {
			path = lp
		}
	}
	if path == "" {
		if os.Getenv("SHEPHERD_REQUIRE_BROWSER") != "" {
			t.Fatal("Chromium is required for browser tests: apt-get install -y chromium")
		}
		t.Skip("Chromium not installed (apt-get install -y chromium); make test requires it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("no-sandbox", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// The first call starts the browser and must not carry a timeout (it would end the browser).
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return tctx
}

// screenshot saves the page (PNG) when SHEPHERD_SCREENSHOTS names a directory (for looking at the UI).
func screenshot(t *testing.T, ctx context.Context, name string) {
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

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignInThroughDevIssuerShowsRoleDashboard(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	users := []struct {
		user, name string
		jobs       bool
		capability string
	}{
		{"alice", "Alice", false, "Request virtual machines"},
		{"bob", "Bob", false, "Approve requests"},
		{"carol", "Carol", true, "Administer the platform"},
		{"victor", "Victor", false, "See virtual machines"},
	}
	for i, u := range users {
		err := chromedp.Do(ctx,
			chromedp.Navigate(env.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
		)
		if err != nil {
			t.Fatalf("%s: open portal: %v", u.user, err)
		}
		if loc := location(t, ctx); !strings.Contains(loc, "/login") {
			t.Fatalf("%s: anonymous visit landed on %s", u.user, loc)
		}
		if i == 0 {
			screenshot(t, ctx, "01-login")
		}
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-`+u.user+`"]`)),
		)
		if err != nil {
			t.Fatalf("%s: reach the dev issuer: %v", u.user, err)
		}
		if i == 0 {
			screenshot(t, ctx, "02-dev-issuer")
		}
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`[data-testid="pick-`+u.user+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
		)
		if err != nil {
			t.Fatalf("%s: sign in: %v", u.user, err)
		}
		if loc := location(t, ctx); loc != env.URL+"/" {
			t.Fatalf("%s: landed on %s", u.user, loc)
		}
		screenshot(t, ctx, "03-dashboard-"+u.user)
		if h1 := text(t, ctx, "h1"); h1 != "Welcome, "+u.name {
			t.Errorf("%s: heading %q", u.user, h1)
		}
		if got := text(t, ctx, `[data-testid="capabilities"]`); !strings.Contains(got, u.capability) {
			t.Errorf("%s: capabilities %q lack %q", u.user, got, u.capability)
		}
		if jobsLinks := count(t, ctx, `[data-nav="jobs"]`); (jobsLinks == 1) != u.jobs {
			t.Errorf("%s: jobs link count %d", u.user, jobsLinks)
		}
		// Sign out through the account menu (a CSRF-protected POST).
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`details.user-menu summary`)),
			chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
		)
		if err != nil {
			t.Fatalf("%s: sign out: %v", u.user, err)
		}
		if got := text(t, ctx, "main"); !strings.Contains(got, "You have signed out") {
			t.Errorf("%s: no sign-out notice", u.user)
		}
	}
	if t.Failed() {
		return
	}
	// The permissions page of the last user, seen by a person.
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-dana"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="pick-dana"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
		chromedp.Navigate(env.URL+"/me/permissions"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="memberships"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	perms := text(t, ctx, `[data-testid="memberships"]`)
	screenshot(t, ctx, "04-permissions-dana")
	if !strings.Contains(perms, "shop") || !strings.Contains(perms, "owner") {
		t.Fatalf("memberships table: %q", perms)
	}
}

func TestAdminWithDefaultPasswordMustChangeItFirst(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	newPassword := "a long and private passphrase"
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="first-run-hint"]`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "admin"),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#new`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if loc := location(t, ctx); !strings.HasSuffix(loc, "/account/password") {
		t.Fatalf("admin landed on %s", loc)
	}
	screenshot(t, ctx, "05-forced-password")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/me/permissions"),
		chromedp.WaitVisible(chromedp.CSS(`#new`)),
		chromedp.SendKeys(chromedp.CSS(`#new`), "password123"),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), "password123"),
		chromedp.Submit(chromedp.CSS(`#confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="password-problems"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	problems := text(t, ctx, `[data-testid="password-problems"]`)
	if !strings.Contains(problems, "too common") {
		t.Fatalf("blocklisted password: %q", problems)
	}
	screenshot(t, ctx, "06-password-refused")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#new`), newPassword),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), newPassword),
		chromedp.Submit(chromedp.CSS(`#confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "07-admin-dashboard")
	if got := text(t, ctx, "#flash-area"); !strings.Contains(got, "password has been changed") {
		t.Errorf("flash: %q", got)
	}
	if n := count(t, ctx, `[data-nav="jobs"]`); n != 1 {
		t.Fatalf("admin navigation lacks the job UI: %d", n)
	}
}

// waitCount polls until sel matches want elements (htmx swaps land asynchronously).
func waitCount(t *testing.T, ctx context.Context, sel string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := count(t, ctx, sel)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d elements, want %d", sel, n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits until htmx has no request in flight and the swap has landed.
func settle(t *testing.T, ctx context.Context) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	waitCount(t, ctx, ".htmx-request", 0)
	time.Sleep(100 * time.Millisecond)
}
