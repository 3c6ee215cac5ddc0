package admin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/governance"
)

// TestConsoleAccessInTheBrowser decides a console access request on a 390 px wide
// screen (choosing the duration), then revokes a grant on the Consoles page, which
// must fit the same screen.
func TestConsoleAccessInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	w := newConsoleWorld(t, env)
	pending, err := (&governance.Service{Store: env.App.Store}).RequestConsoleAccess(context.Background(), requester(t, env, "dana"), w.vm.ID,
		"the disk filled up again", 120)
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	run := steps(t, ctx)
	fits := func(page string) { t.Helper(); fitsPhone(t, ctx, page) }
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(env.URL+"/approvals/"+pending.ID.String()),
		chromedp.WaitVisible(css(`[data-testid="console-request"]`)))...)
	shot(t, ctx, "30-console-request-390")
	fits("the console request's approval page")
	run("grant 30 minutes",
		chromedp.SetValue(css(`#f-minutes`), "30"),
		chromedp.Click(css(`[data-testid="approve"]`)),
		chromedp.WaitVisible(css(`[data-testid="console-granted"]`)))
	shot(t, ctx, "31-console-granted-390")
	fits("the request page")
	granted, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="console-granted"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(granted, "(30 minutes)") {
		t.Errorf("granted: %q", granted)
	}
	c := env.App.Store.Ent
	if tk := c.ApprovalTicket.GetX(context.Background(), pending.ID); tk.Status != approvalticket.StatusSUCCESS {
		t.Fatalf("ticket after the grant: %s", tk.Status)
	}

	run("consoles page",
		chromedp.Navigate(env.URL+"/admin/consoles"),
		chromedp.WaitVisible(css(`[data-testid="console-grants"]`)))
	shot(t, ctx, "32-consoles-390")
	fits("the Consoles page")
	run("revoke",
		chromedp.SendKeys(css(`[data-testid="reason-`+w.grant.ID.String()+`"]`), "incident closed"),
		chromedp.Click(css(`[data-testid="revoke-`+w.grant.ID.String()+`"]`)),
		chromedp.WaitVisible(css(`.flash-success`)))
	if g := c.ConsoleGrant.Query().Where(consolegrant.ID(w.grant.ID)).OnlyX(context.Background()); g.RevokedAt == nil || g.RevokeReason != "incident closed" {
		t.Fatalf("grant after Revoke: %+v", g)
	}
	run("desktop", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(env.URL+"/admin/consoles"),
		chromedp.WaitVisible(css(`[data-testid="console-sessions"]`)))
	shot(t, ctx, "33-consoles")
}
