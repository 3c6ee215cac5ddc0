package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// signIn goes through the development issuer as user.
func signIn(t *testing.T, ctx context.Context, env *apptest.Env, user string) {
	t.Helper()
	t.Logf("%s sign in as %s", time.Now().Format("15:04:05.000"), user)
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="pick-`+user+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`details.user-menu summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
}

// selectByText picks the option of a select whose label contains text.
func selectByText(sel, text string) chromedp.Action[chromedp.Void] {
	js := `(() => { const s = document.querySelector(` + "`" + sel + "`" + `);
		const o = [...s.options].find(o => o.textContent.includes(` + "`" + text + "`" + `));
		if (!o) throw new Error('no option ` + text + `');
		s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, tg)
		return err
	})
}

// requestVM fills the request form as the signed-in user and returns the request page URL.
func requestVM(t *testing.T, ctx context.Context, env *apptest.Env, service, size, reason string, shot string) string {
	t.Helper()
	return requestVMIn(t, ctx, env, service, "dev", size, reason, shot)
}

// requestVMIn is requestVM in namespace ns.
func requestVMIn(t *testing.T, ctx context.Context, env *apptest.Env, service, ns, size, reason string, shot string) string {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/requests/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="submit-request"]`)),
		selectByText(`#f-service_id`, service),
		selectByText(`#f-namespace_id`, ns+" ("),
		selectByText(`#f-template_id`, "Ubuntu"),
		selectByText(`#f-size_id`, size+" ("),
		chromedp.WaitVisible(chromedp.CSS(`#size-card dl`)),
	)
	if err != nil {
		t.Fatalf("fill request: %v", err)
	}
	settle(t, ctx)
	// Choosing a size filled in its default disk size.
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-disk_gb').value`)); err != nil || v != "100" {
		t.Fatalf("disk default after choosing the size: %q %v", v, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#f-disk_gb`), "80"),
		chromedp.SendKeys(chromedp.CSS(`#f-reason`), reason),
	)
	if err != nil {
		t.Fatalf("fill request: %v", err)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="submit-request"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline"]`)),
	)
	if err != nil {
		t.Fatalf("submit request: %v", err)
	}
	return location(t, ctx)
}

func TestRequestApproveRejectCancelInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	db := env.App.Store.Ent
	bg := context.Background()

	// dana (SystemAdmin) creates a System and a Service and requests a VM in it.
	signIn(t, ctx, env, "dana")
	createSystemAndService(t, ctx, env)
	reqURL := requestVM(t, ctx, env, "alpha / api", "small", "Build agents for the alpha team", "10-request-form")
	if got := text(t, ctx, `[data-testid="ticket-status"]`); !strings.Contains(got, "Waiting for approval") {
		t.Fatalf("status after submit: %q", got)
	}
	screenshot(t, ctx, "11-request-pending")
	ticketID := reqURL[strings.LastIndex(reqURL, "/")+1:]
	signOut(t, ctx)

	signIn(t, ctx, env, "bob")
	// The approver was notified of the new request: the bell shows it.
	waitCount(t, ctx, `#notification-bell[data-unread="1"]`, 1)
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`[data-ticket="`+ticketID+`"]`)),
	)
	if err != nil {
		t.Fatalf("inbox: %v", err)
	}
	screenshot(t, ctx, "12-inbox")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals/"+ticketID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approve"]`)),
		selectByText(`#f-cluster_id`, "sim-test-a"),
	)
	if err != nil {
		t.Fatalf("approval page: %v", err)
	}
	settle(t, ctx) // the decision panel is re-rendered after each change
	screenshot(t, ctx, "13-approval")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-name"]`)),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	vmName := text(t, ctx, `[data-testid="vm-name"]`)
	if vmName != "dev-alpha-api-01" {
		t.Fatalf("VM name %q", vmName)
	}
	screenshot(t, ctx, "14-approved")

	// The approval wrote the VM row and its job in one transaction; the workers run the
	// job at once, so the VM may already be past CREATING (TestVMLifecycleInTheBrowser
	// follows it on the page).
	if _, err := db.VM.Query().Where(vm.Name(vmName)).Only(bg); err != nil {
		t.Fatalf("VM row: %v", err)
	}
	var jobs int
	if err := env.App.Store.SQL.QueryRowContext(bg, `SELECT count(*) FROM river_job WHERE kind = 'vm_create'`).Scan(&jobs); err != nil || jobs != 1 {
		t.Fatalf("vm_create jobs: %d %v", jobs, err)
	}
	for _, action := range []string{"system.create", "service.create", "vm.request", "approval.approve"} {
		if n, err := db.AuditLog.Query().Where(auditlog.Action(action)).Count(bg); err != nil || n < 1 {
			t.Errorf("no audit row %s", action)
		}
	}
	if n, _ := db.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_APPROVED)).Count(bg); n != 1 {
		t.Errorf("requester notifications: %d", n)
	}
	signOut(t, ctx)

	// Second scenario: a request rejected with a reason.
	signIn(t, ctx, env, "dana")
	rejURL := requestVM(t, ctx, env, "alpha / api", "small", "Another one, please", "")
	rejID := rejURL[strings.LastIndex(rejURL, "/")+1:]
	// Third scenario: a request the requester cancels.
	// (A different size: the same request twice would be refused as a duplicate.)
	canURL := requestVM(t, ctx, env, "alpha / api", "large", "Third one, maybe not", "")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="cancel-request"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-status="CANCELLED"]`)),
	)
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	signOut(t, ctx)
	signIn(t, ctx, env, "bob")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals/"+rejID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="reject"]`)),
		chromedp.SendKeys(chromedp.CSS(`.reject-form textarea`), "One build agent is enough for now."),
		chromedp.Click(chromedp.CSS(`[data-testid="reject"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="inbox-filters"]`)),
	)
	if err != nil {
		t.Fatalf("reject: %v", err)
	}
	signOut(t, ctx)
	signIn(t, ctx, env, "dana")
	err = chromedp.Do(ctx, chromedp.Navigate(rejURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="decision-reason"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, `[data-testid="decision-reason"]`); got != "One build agent is enough for now." {
		t.Fatalf("rejection reason shown: %q", got)
	}
	screenshot(t, ctx, "15-rejected")
	// The requester (a member of the System) opens the VM and its history.
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms"),
		chromedp.Click(chromedp.CSS(`[data-vm="`+vmName+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-title"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="tab-history"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-action="approval.approve"]`)),
	)
	if err != nil {
		t.Fatalf("VM page history: %v", err)
	}
	screenshot(t, ctx, "14b-vm-history")
	statuses := map[string]approvalticket.Status{}
	for _, tk := range db.ApprovalTicket.Query().AllX(bg) {
		statuses["/requests/"+tk.ID.String()] = tk.Status
	}
	approved := statuses[strings.TrimPrefix(reqURL, env.URL)]
	if (approved != approvalticket.StatusAPPROVED && approved != approvalticket.StatusEXECUTING && approved != approvalticket.StatusSUCCESS) ||
		statuses[strings.TrimPrefix(rejURL, env.URL)] != approvalticket.StatusREJECTED ||
		statuses[strings.TrimPrefix(canURL, env.URL)] != approvalticket.StatusCANCELLED {
		t.Fatalf("ticket statuses: %v", statuses)
	}
}

// createSystemAndService uses the self-service pages: System "alpha", then Service "api" in it.
func createSystemAndService(t *testing.T, ctx context.Context, env *apptest.Env) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/systems/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-system"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "alpha"),
		chromedp.SendKeys(chromedp.CSS(`#f-description`), "The **alpha** team's services."),
	)
	if err != nil {
		t.Fatalf("system form: %v", err)
	}
	screenshot(t, ctx, "08-new-system")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="create-system"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="system-name"]`)),
	)
	if err != nil {
		t.Fatalf("create system: %v", err)
	}
	systemURL := location(t, ctx)
	systemID := systemURL[strings.LastIndex(systemURL, "/")+1:]
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/services/new?system="+systemID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-service"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "api"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-service"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="service-name"]`)),
	)
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	screenshot(t, ctx, "09-service")
}
