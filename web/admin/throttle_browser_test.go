package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// TestSignInThrottleInTheBrowser: the Sign-in throttle page fits a 390 px screen with a
// long account name and an IPv6 prefix, and its Clear button works there.
func TestSignInThrottleInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	now := time.Now()
	long := "user:" + strings.Repeat("someone.with.a.very.long.name", 3)
	c.LoginThrottle.Create().SetID(long).SetFailures(7).SetFirstFailureAt(now.Add(-time.Minute)).SetLastFailureAt(now).
		SetBlockedUntil(now.Add(8 * time.Minute)).ExecX(ctx)
	c.LoginThrottle.Create().SetID("ip:2001:db8:1234:5678::/64").SetFailures(23).SetFirstFailureAt(now.Add(-5 * time.Minute)).
		SetLastFailureAt(now).SetBlockedUntil(now.Add(16 * time.Second)).ExecX(ctx)
	c.LoginThrottle.Create().SetID("ip:192.0.2.7").SetFailures(2).SetFirstFailureAt(now.Add(-2 * time.Minute)).
		SetLastFailureAt(now.Add(-time.Minute)).ExecX(ctx)

	bctx := browser(t)
	run := steps(t, bctx)
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(env.URL+"/admin/sign-in-throttle"),
		chromedp.WaitVisible(css(`[data-testid="throttle-keys"]`)))...)
	shot(t, bctx, "40-sign-in-throttle-390")
	fitsPhone(t, bctx, "the Sign-in throttle page")
	if !visible(t, bctx, `[data-testid="clear-ip:2001:db8:1234:5678::/64"]`) {
		t.Fatal("the Clear button of the IPv6 row is not in view")
	}
	run("clear the IPv6 prefix",
		chromedp.Click(css(`[data-testid="clear-ip:2001:db8:1234:5678::/64"]`)),
		chromedp.WaitVisible(css(`#flash-area .flash`)))
	flash, err := chromedp.Run(bctx, chromedp.Text(css(`#flash-area .flash`)))
	if err != nil || !strings.Contains(flash, "address 2001:db8:1234:5678::/64") {
		t.Fatalf("flash %q %v", flash, err)
	}
	if visible(t, bctx, `[data-testid="clear-ip:2001:db8:1234:5678::/64"]`) {
		t.Error("the cleared row is still listed")
	}
	fitsPhone(t, bctx, "the Sign-in throttle page after a clear")
	if n := c.LoginThrottle.Query().CountX(ctx); n != 2 {
		t.Errorf("%d keys left, want 2", n)
	}
}
