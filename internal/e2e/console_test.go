package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/internal/apptest"
	consoleuc "kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// painted counts the console canvas's pixels that are not black: the framebuffer drawn.
const painted = `(() => { const c = document.querySelector('#console-screen canvas');
	if (!c || !c.width) return 0;
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i] + d[i+1] + d[i+2] > 60) n++; } return n; })()`

// logJSErrors reports the page's uncaught exceptions and console errors in the test log.
func logJSErrors(t *testing.T, ctx context.Context) {
	_ = chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s %s", e.ExceptionDetails.Text, describe(e.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "warning" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("page console %s: %s", e.Type, strings.Join(parts, " "))
			}
		}
	})
}

func waitConsoleState(t *testing.T, ctx context.Context, state string, d time.Duration) {
	t.Helper()
	waitFor(t, ctx, `#console-state[data-state="`+state+`"]`, d)
}

// TestConsoleInTheBrowser: alice opens her running test VM's console from the VM page,
// sees the framebuffer painted, types at the login prompt and sees the VM take it,
// sends Ctrl-Alt-Del, and disconnects; the session is recorded and audited.
func TestConsoleInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	v := demoVM(t, env)
	bg := context.Background()
	db := env.App.Store.Ent
	waitCreated(t, env, v.ID)
	simCluster := env.App.Clusters.Sim(bg, "sim-test-a")
	ref := kube.VMRef{Namespace: v.NamespaceName, Name: v.Name}

	ctx := browser(t)
	logJSErrors(t, ctx)
	signIn(t, ctx, env, "alice")
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="open-console"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="open-console"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#console[data-ready="true"]`)),
	)
	if err != nil {
		t.Fatalf("open the console page: %v", err)
	}
	screenshot(t, ctx, "49-console-page")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="console-connect"]`))); err != nil {
		t.Fatal(err)
	}
	waitConsoleState(t, ctx, "connected", 20*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](painted))
		if err != nil {
			t.Fatal(err)
		}
		if n > 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console canvas stays blank (%d lit pixels)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Keys go to the VM once its login prompt is up.
	waitDB(t, "the login prompt", func() bool { return strings.Contains(simCluster.ConsoleText(ref), "login:") })
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#console-screen canvas`)),
		chromedp.KeyEvent("root"),
		chromedp.KeyEvent(kb.Enter),
	)
	if err != nil {
		t.Fatalf("type: %v", err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(simCluster.ConsoleText(ref), "login: root") {
		if time.Now().After(deadline) {
			active, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const c = document.querySelector('#console-screen canvas'); const r = c.getBoundingClientRect(); const e = document.elementFromPoint(r.x + r.width/2, r.y + r.height/2); return JSON.stringify(r) + ' n=' + document.querySelectorAll('#console-screen canvas').length + ' at-center=' + (e ? e.tagName + '#' + e.id + '.' + e.className : 'none') + ' active=' + document.activeElement.tagName; })()`))
			t.Fatalf("the VM did not take the typed login; its screen:\n%s\nfocused element: %s", simCluster.ConsoleText(ref), active)
		}
		time.Sleep(100 * time.Millisecond)
	}
	screenshot(t, ctx, "50-console-typed")

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="console-cad"]`))); err != nil {
		t.Fatal(err)
	}
	waitDB(t, "Ctrl-Alt-Del reaching the VM", func() bool { return simCluster.ConsoleReboots(ref) == 1 })

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="console-disconnect"]`))); err != nil {
		t.Fatal(err)
	}
	waitConsoleState(t, ctx, "closed", 10*time.Second)
	if got := text(t, ctx, `#console-state`); got != "You closed the console." {
		t.Errorf("after disconnect the page says %q", got)
	}
	waitDB(t, "the session record closed", func() bool {
		return db.ConsoleSession.Query().Where(consolesession.VMID(v.ID), consolesession.ClosedAtNotNil()).ExistX(bg)
	})
	s := db.ConsoleSession.Query().Where(consolesession.VMID(v.ID)).OnlyX(bg)
	if s.UserName != "alice" || s.BytesFromVM < 10000 || s.BytesToVM < 20 || s.CloseReason != "client_closed" || s.ClientIP == "" {
		t.Errorf("session record: %+v", s)
	}
	for _, action := range []string{"vnc.ticket_issue", "vnc.session_open", "vnc.access"} {
		if !db.AuditLog.Query().Where(auditlog.Action(action), auditlog.ResourceID(v.ID.String())).ExistX(bg) {
			t.Errorf("no %s audit row", action)
		}
	}

	// A stopped VM's console is not offered, and its page says why.
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="power-stop"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="power-stop"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, vmStatus("STOPPED"), 30*time.Second)
	if n := count(t, ctx, `[data-testid="open-console"]`); n != 0 {
		t.Errorf("a stopped VM offers its console")
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()+"/console"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="console-unavailable"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, `[data-testid="console-unavailable"]`); !strings.Contains(got, "while the VM is running") {
		t.Errorf("stopped VM's console page: %q", got)
	}
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

// prodVM has dana request a small VM for intranet/wiki in prod and bob approve it on
// sim-prod-a, through the governance use cases.
func prodVM(t *testing.T, env *apptest.Env) (*ent.VM, *governance.Service) {
	t.Helper()
	v, gov, err := testorg.DemoVM(context.Background(), env.App.Store, testorg.DemoRequest{
		Requester: "dana",
		Approver:  "bob",
		Namespace: "prod",
		Cluster:   "sim-prod-a",
		Reason:    "the production wiki",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, gov
}

func who(t *testing.T, env *apptest.Env, username string) governance.Requester {
	t.Helper()
	r, err := testorg.DemoWho(context.Background(), env.App.Store.Ent, username)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestProdConsoleNeedsAGrantInTheBrowser: a prod VM's console is closed until an
// approver grants access; dana asks for it on the console page, bob grants 30 minutes,
// dana connects, and when carol revokes the grant dana's open console closes within
// seconds and says why.
func TestProdConsoleNeedsAGrantInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	v, gov := prodVM(t, env)
	bg := context.Background()
	db := env.App.Store.Ent
	waitCreated(t, env, v.ID)

	ctx := browser(t)
	logJSErrors(t, ctx)
	signIn(t, ctx, env, "dana")
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="open-console"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, `[data-testid="open-console"]`); got != "Console (needs approved access)" {
		t.Errorf("prod console link: %q", got)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="open-console"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="console-request-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-console-reason`), "Check the boot log after the kernel update."),
		chromedp.SetValue(chromedp.CSS(`#f-console-minutes`), "30"),
	)
	if err != nil {
		t.Fatalf("request form: %v", err)
	}
	screenshot(t, ctx, "51-prod-console-request")
	if n := count(t, ctx, `#console`); n != 0 {
		t.Fatal("a prod console without a grant offers to connect")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="console-request"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="console-unavailable"] a[href^="/requests/"]`)),
	)
	if err != nil {
		t.Fatalf("request console access: %v", err)
	}
	pending, err := gov.PendingConsoleRequest(bg, who(t, env, "dana").User.ID, v.ID)
	if err != nil || pending == nil {
		t.Fatalf("no pending console request: %v", err)
	}
	grant, err := gov.ApproveConsoleAccess(bg, who(t, env, "bob"), pending.ID, 30, "ok for the kernel check")
	if err != nil {
		t.Fatal(err)
	}
	if d := grant.ExpiresAt.Sub(grant.StartsAt); d != 30*time.Minute {
		t.Errorf("grant lasts %s", d)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()+"/console"),
		chromedp.WaitVisible(chromedp.CSS(`#console[data-ready="true"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="console-connect"]`)),
	)
	if err != nil {
		t.Fatalf("open the granted console: %v", err)
	}
	waitConsoleState(t, ctx, "connected", 20*time.Second)
	if got := text(t, ctx, `[data-testid="console-grant"]`); !strings.Contains(got, "by bob") {
		t.Errorf("grant line: %q", got)
	}
	screenshot(t, ctx, "52-prod-console-connected")

	carol := who(t, env, "carol")
	err = env.App.ConsoleAccess.RevokeGrant(bg, consoleViewer(carol), grant.ID, "incident closed")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitConsoleState(t, ctx, "closed", 5*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the revoked console closed after %s", d)
	}
	if got := text(t, ctx, `#console-state`); got != "Your console access was revoked." {
		t.Errorf("after revocation the page says %q", got)
	}
	screenshot(t, ctx, "53-prod-console-revoked")
	waitDB(t, "the session record closed as revoked", func() bool {
		return db.ConsoleSession.Query().Where(consolesession.VMID(v.ID), consolesession.CloseReason("revoked")).ExistX(bg)
	})
	if !db.AuditLog.Query().Where(auditlog.Action("vnc.grant_revoke"), auditlog.ActorName("carol")).ExistX(bg) {
		t.Error("no vnc.grant_revoke audit row by carol")
	}
	// Reconnecting is refused now: the page says access must be requested again.
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms/"+v.ID.String()+"/console"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="console-request-form"]`)),
	)
	if err != nil {
		t.Fatalf("after revocation: %v", err)
	}
}

func consoleViewer(r governance.Requester) consoleuc.Viewer {
	return consoleuc.Viewer{UserID: r.User.ID, Username: r.User.Username, Principal: r.Principal}
}
