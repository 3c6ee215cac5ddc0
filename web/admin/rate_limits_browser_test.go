package admin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
)

// TestRateLimitsInTheBrowser: on a phone, a platform admin gives herself a limit of two
// changes a minute on the Rate limits page (a refused form first), then makes changes
// until the third is refused with the reason and the wait in the page.
func TestRateLimitsInTheBrowser(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.RateLimitUserPerMinute, c.RateLimitGlobalPerMinute = 120, 1000 })
	bctx := browser(t)
	run := steps(t, bctx)
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(env.URL+"/admin/rate-limits"),
		chromedp.WaitVisible(css(`[data-testid="limits"]`)))...)
	fitsPhone(t, bctx, "the Rate limits page")
	run("a form without a reason",
		chromedp.SendKeys(css(`#f-user`), "carol"),
		chromedp.SendKeys(css(`#f-changes_per_minute`), "2"),
		chromedp.Click(css(`[data-testid="save-limits"]`)),
		chromedp.WaitVisible(css(`[data-testid="error-summary"]`)))
	summary, err := chromedp.Run(bctx, chromedp.Text(css(`[data-testid="error-summary"]`)))
	if err != nil || !strings.Contains(summary, "Say why") {
		t.Fatalf("error summary %q %v", summary, err)
	}
	run("save with a reason",
		chromedp.SendKeys(css(`#f-reason`), "trying the limits"),
		chromedp.Click(css(`[data-testid="save-limits"]`)),
		chromedp.WaitVisible(css(`[data-testid="user-limits"]`)))
	shot(t, bctx, "50-rate-limits-390")
	fitsPhone(t, bctx, "the Rate limits page with a user's limits")
	row, err := chromedp.Run(bctx, chromedp.Text(css(`tr[data-row="carol"]`)))
	if err != nil || !strings.Contains(row, "2 changes a minute") || !strings.Contains(row, "trying the limits") {
		t.Fatalf("listed limits %q %v", row, err)
	}
	toggle := chromedp.Evaluate[bool](`(function(){var b=document.querySelector('td.actions form button[type=submit]');if(!b)return false;b.click();return true})()`)
	for i := 1; i <= 3; i++ {
		run("open the namespaces", chromedp.Navigate(env.URL+"/admin/namespaces"), chromedp.WaitVisible(css(`td.actions form`)))
		if ok, err := chromedp.Run(bctx, toggle); err != nil || !ok {
			t.Fatalf("change %d: no toggle (%v)", i, err)
		}
		if i < 3 {
			run("changed", chromedp.WaitVisible(css(`#flash-area .flash`)))
		}
	}
	run("refused", chromedp.WaitVisible(css(`[data-testid="error-message"]`)))
	shot(t, bctx, "51-rate-limit-hit-390")
	msg, err := chromedp.Run(bctx, chromedp.Text(css(`[data-testid="error-message"]`)))
	if err != nil || !strings.Contains(msg, "You have made 3 changes in this minute; the limit is 2 a minute.") ||
		!strings.Contains(msg, "Try again in") || strings.Contains(msg, "RATE_LIMIT_EXCEEDED") {
		t.Fatalf("refusal %q %v", msg, err)
	}
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil || !strings.HasPrefix(title, "Error:") {
		t.Errorf("title %q %v", title, err)
	}
	// Her limits page still works: changes there are never refused.
	run("back to the limits", chromedp.Navigate(env.URL+"/admin/rate-limits"),
		chromedp.WaitVisible(css(`[data-testid="remove-carol"]`)),
		chromedp.Click(css(`[data-testid="remove-carol"]`)),
		chromedp.WaitVisible(css(`#flash-area .flash`)))
	ctx := context.Background()
	if n := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("rate_limit.exceeded")).CountX(ctx); n != 1 {
		t.Errorf("%d refusals audited, want 1", n)
	}
	if n := env.App.Store.Ent.RateLimitUserLimit.Query().CountX(ctx); n != 0 {
		t.Errorf("carol's limits were not removed")
	}
}
