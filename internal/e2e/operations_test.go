package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
)

// waitFor waits until sel is visible, failing after d with what the page showed.
func waitFor(t *testing.T, ctx context.Context, sel string, d time.Duration) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#vm-live') || document.body).innerText.slice(0, 600)`))
		t.Fatalf("waiting for %s: %v\npage: %s", sel, err, status)
	}
}

// vmStatus is the status badge in the VM page's header.
func vmStatus(status string) string { return `#vm-status [data-status="` + status + `"]` }

// approveOperation has the signed-in approver approve the ticket from its approval page.
func approveOperation(t *testing.T, ctx context.Context, env *apptest.Env, ticketID, comment, shot string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals/"+ticketID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="operation-request"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-comment`), comment),
	)
	if err != nil {
		t.Fatalf("approval page of %s: %v", ticketID, err)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline"]`)),
	)
	if err != nil {
		t.Fatalf("approve %s: %v", ticketID, err)
	}
}

// pendingTicket is the id of the request the VM page lists as waiting for approval.
func pendingTicket(t *testing.T, ctx context.Context) string {
	t.Helper()
	href := attr(t, ctx, `[data-testid="pending-op"] a`, "href")
	return href[strings.LastIndex(href, "/")+1:]
}

// approveCreate has bob approve a VM request on cluster and returns the VM page URL path.
func approveCreate(t *testing.T, ctx context.Context, env *apptest.Env, reqURL, cluster string) {
	t.Helper()
	ticketID := reqURL[strings.LastIndex(reqURL, "/")+1:]
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals/"+ticketID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approve"]`)),
		selectByText(`#f-cluster_id`, cluster),
	)
	if err != nil {
		t.Fatalf("approval page: %v", err)
	}
	settle(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-name"]`)),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
}

// openVM opens the VM's page from the VM list.
func openVM(t *testing.T, ctx context.Context, env *apptest.Env, name string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/vms"),
		chromedp.Click(chromedp.CSS(`[data-vm="`+name+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-live"]`)),
	)
	if err != nil {
		t.Fatalf("open VM %s: %v", name, err)
	}
}

// TestVMLifecycleInTheBrowser continues the governance flow on the clusters: after bob
// approves, dana's VM page turns RUNNING by itself; she stops and starts it (test, no
// approval), a prod VM's stop waits for bob, and a deletion bob approves ends DELETED.
func TestVMLifecycleInTheBrowser(t *testing.T) {
	// Slow simulated clusters, so the page is seen in flight before it settles.
	env := apptest.Start(t, func(c *config.Config) { c.SimStepDelay = 2 * time.Second })
	// Five sign-ins and two-second cluster steps: ~35 s alone, three minutes and more
	// while make test runs every package at once on two cores.
	ctx := browserFor(t, 6*time.Minute)
	db := env.App.Store.Ent
	bg := context.Background()

	signIn(t, ctx, env, "dana")
	createSystemAndService(t, ctx, env)
	testURL := requestVM(t, ctx, env, "alpha / api", "small", "Build agents for the alpha team", "")
	prodURL := requestVMIn(t, ctx, env, "alpha / api", "prod", "small", "The alpha API in production", "")
	signOut(t, ctx)
	signIn(t, ctx, env, "bob")
	approveCreate(t, ctx, env, testURL, "sim-test-a")
	approveCreate(t, ctx, env, prodURL, "sim-prod-a")
	signOut(t, ctx)

	// The VM page follows the creation without a reload.
	signIn(t, ctx, env, "dana")
	openVM(t, ctx, env, "dev-alpha-api-01")
	if got := attr(t, ctx, `#vm-live`, "data-polling"); got != "true" {
		t.Logf("the VM was already settled when its page opened (status %q)", text(t, ctx, `#vm-status`))
	} else {
		screenshot(t, ctx, "20-vm-creating")
	}
	waitFor(t, ctx, vmStatus("RUNNING"), 60*time.Second)
	waitFor(t, ctx, `#vm-live[data-polling="false"] [data-testid="power-stop"]`, 10*time.Second)
	if n := count(t, ctx, `[data-testid="op-timeline"] li[data-step-state="done"]`); n != 4 {
		t.Errorf("create timeline: %d done steps, want 4", n)
	}
	screenshot(t, ctx, "21-vm-running")

	// Test environment: stop and start run at once, no approval.
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="power-stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="actions-busy"]`)),
	)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	screenshot(t, ctx, "22-vm-stopping")
	waitFor(t, ctx, vmStatus("STOPPED"), 30*time.Second)
	waitFor(t, ctx, `[data-testid="power-start"]`, 10*time.Second)
	screenshot(t, ctx, "23-vm-stopped")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="power-start"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="actions-busy"]`)),
	)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// The VM list follows the start too, while the row is in flight.
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(chromedp.CSS(`[data-vm="dev-alpha-api-01"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if row := text(t, ctx, `[data-vm="dev-alpha-api-01"] [data-status]`); row != "Running" {
		if got := attr(t, ctx, `#vm-rows`, "data-polling"); got != "true" {
			t.Errorf("the list does not poll while the VM is %s", row)
		}
		screenshot(t, ctx, "23b-list-starting")
	}
	waitFor(t, ctx, `#vm-rows[data-polling="false"] [data-vm="dev-alpha-api-01"] [data-status="RUNNING"]`, 30*time.Second)
	openVM(t, ctx, env, "dev-alpha-api-01")
	waitFor(t, ctx, vmStatus("RUNNING"), 30*time.Second)
	waitFor(t, ctx, `[data-testid="power-restart"]`, 10*time.Second)

	// Deletion needs the box ticked and an approver.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="delete-zone"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="delete-confirm"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="delete-confirm"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-delete_reason`), "The alpha team moved to the shared build farm."),
	)
	if err != nil {
		t.Fatalf("delete form: %v", err)
	}
	screenshot(t, ctx, "24-vm-delete-form")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="request-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pending-op"]`)),
	)
	if err != nil {
		t.Fatalf("request delete: %v", err)
	}
	deleteID := pendingTicket(t, ctx)

	// Production: the stop becomes a request for an approver; the VM keeps running.
	openVM(t, ctx, env, "prod-alpha-api-02")
	waitFor(t, ctx, vmStatus("RUNNING"), 60*time.Second)
	waitFor(t, ctx, `[data-testid="power-stop"]`, 10*time.Second)
	if got := text(t, ctx, `[data-testid="power-stop"]`); got != "Request stop (needs approval)" {
		t.Errorf("prod stop button: %q", got)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#f-reason`), "Maintenance window for the database migration."),
		chromedp.Click(chromedp.CSS(`[data-testid="power-stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pending-op"]`)),
	)
	if err != nil {
		t.Fatalf("prod stop request: %v", err)
	}
	if got := text(t, ctx, `#vm-status`); got != "Running" {
		t.Fatalf("a prod stop ran before its approval: %q", got)
	}
	screenshot(t, ctx, "26-prod-stop-pending")
	stopID := pendingTicket(t, ctx)
	signOut(t, ctx)

	signIn(t, ctx, env, "bob")
	approveOperation(t, ctx, env, stopID, "ok, maintenance window agreed", "27-approve-prod-stop")
	approveOperation(t, ctx, env, deleteID, "", "")
	signOut(t, ctx)

	signIn(t, ctx, env, "dana")
	openVM(t, ctx, env, "prod-alpha-api-02")
	waitFor(t, ctx, vmStatus("STOPPED"), 30*time.Second)
	screenshot(t, ctx, "28-prod-stopped")
	testVM := db.VM.Query().Where(vm.Name("dev-alpha-api-01")).OnlyX(bg)
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms/"+testVM.ID.String()), chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-live"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, vmStatus("DELETED"), 30*time.Second)
	screenshot(t, ctx, "29-vm-deleted")

	if n := count(t, ctx, `[data-testid="power-form"], [data-testid="delete-zone"]`); n != 0 {
		t.Errorf("a deleted VM still offers %d actions", n)
	}
	for id, want := range map[string]approvalticket.Status{stopID: approvalticket.StatusSUCCESS, deleteID: approvalticket.StatusSUCCESS} {
		tk := db.ApprovalTicket.Query().Where(approvalticket.IDEQ(uuid.MustParse(id))).OnlyX(bg)
		if tk.Status != want || tk.ApproverName != "bob" {
			t.Errorf("ticket %s %s: %s by %q", tk.Type, id, tk.Status, tk.ApproverName)
		}
	}
}
