package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
)

// waitStream waits until the page's event stream (static/js/live.js) is open.
func waitStream(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, `html[data-live-stream="open"] body`, 10*time.Second)
}

// TestPagesUpdateByPush: dana has her prod VM's page open; she asks for a stop, and bob
// approves it elsewhere (through the use case, as his own browser would). Without a
// reload her page shows the request, then STOPPED, within 5 s of each commit; then her
// VM list shows the VM starting again after bob approves a start, her bell a new
// notification, and bob's open inbox her next request. Nothing polls.
func TestPagesUpdateByPush(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.SimStepDelay = 300 * time.Millisecond })
	ctx := browser(t)
	logJSErrors(t, ctx)
	v, gov := prodVM(t, env)
	c := env.App.Store.Ent
	bg := context.Background()
	waitCreated(t, env, v.ID)

	signIn(t, ctx, env, "dana")
	if err := chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms/"+v.ID.String())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, vmStatus("RUNNING"), 10*time.Second)
	waitStream(t, ctx)
	if got := attr(t, ctx, `#vm-live`, "data-hx-trigger"); got != "shepherd-live" {
		t.Fatalf("the live block's trigger is %q, want the push event only", got)
	}

	dana, bob := who(t, env, "dana"), who(t, env, "bob")
	stop, err := gov.RequestPower(bg, dana, v.ID, "stop", "Maintenance window for the database migration.")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, ctx, `[data-testid="pending-op"]`, 5*time.Second)
	t.Logf("the pending request appeared %v after its commit", time.Since(start).Round(time.Millisecond))

	if err := gov.ApproveOperation(bg, bob, stop.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, ctx, vmStatus("STOPPED"), 5*time.Second)
	t.Logf("STOPPED shown %v after the approval's commit", time.Since(start).Round(time.Millisecond))
	waitFor(t, ctx, `#vm-live[data-polling="false"] [data-testid="power-start"]`, 5*time.Second)
	screenshot(t, ctx, "60-pushed-stop")

	// The VM list: the row follows a start approved by bob.
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(chromedp.CSS(`[data-vm="`+v.Name+`"] [data-status="STOPPED"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, ctx)
	startTk, err := gov.RequestPower(bg, dana, v.ID, "start", "Maintenance is over.")
	if err != nil {
		t.Fatal(err)
	}
	if err := gov.ApproveOperation(bg, bob, startTk.ID, ""); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, ctx, `#vm-rows [data-vm="`+v.Name+`"] [data-status="RUNNING"]`, 5*time.Second)
	t.Logf("the list row showed RUNNING %v after the approval's commit", time.Since(start).Round(time.Millisecond))

	// The bell: a notification of dana's shows at once.
	unread := attr(t, ctx, `#notification-bell`, "data-unread")
	c.Notification.Create().SetRecipientID(dana.User.ID).SetType(notification.TypeVM_OPERATION_DONE).
		SetTitle("pushed").SaveX(bg)
	start = time.Now()
	waitFor(t, ctx, `#notification-bell:not([data-unread="`+unread+`"])`, 5*time.Second)
	t.Logf("the bell changed %v after the notification's commit", time.Since(start).Round(time.Millisecond))

	// The approver's inbox: a new request appears without a reload.
	signOut(t, ctx)
	signIn(t, ctx, env, "bob")
	if err := chromedp.Do(ctx, chromedp.Navigate(env.URL+"/approvals"), chromedp.WaitVisible(chromedp.CSS(`#inbox-live`))); err != nil {
		t.Fatal(err)
	}
	waitStream(t, ctx)
	again, err := gov.RequestPower(bg, dana, v.ID, "stop", "Another maintenance window.")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, ctx, `#inbox-live [data-ticket="`+again.ID.String()+`"]`, 5*time.Second)
	t.Logf("the inbox showed the new request %v after its commit", time.Since(start).Round(time.Millisecond))
}
