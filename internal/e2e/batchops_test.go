package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// clickBox clicks a checkbox as a person would, with Shift held for a range.
func clickBox(t *testing.T, ctx context.Context, sel string, shift bool) {
	t.Helper()
	js := fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, shiftKey: %v}))`, sel, shift)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestBatchStopFromTheVMList: alice ticks five running VMs on the list (one click, then
// shift-click for the range) and stops them in one go; the summary lists all five and
// every one ends STOPPED.
func TestBatchStopFromTheVMList(t *testing.T) {
	env := apptest.Start(t)
	bg := context.Background()
	var vms []*ent.VM
	for i := range 5 {
		v, _, err := testorg.DemoVM(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Approver: "bob", Namespace: "dev",
			Cluster: "sim-test-a", Reason: fmt.Sprintf("batch %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		vms = append(vms, v)
	}
	for _, v := range vms {
		waitCreated(t, env, v.ID)
	}
	ctx := browser(t)
	signIn(t, ctx, env, "alice")
	err := chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-batch"]`)))
	if err != nil {
		t.Fatal(err)
	}
	boxes := `#vm-rows input[name="vm"]`
	if n := count(t, ctx, boxes); n != 5 {
		t.Fatalf("%d checkboxes, want 5", n)
	}
	clickBox(t, ctx, `#vm-rows tr:first-child input[name="vm"]`, false)
	clickBox(t, ctx, `#vm-rows tr:last-child input[name="vm"]`, true)
	if n := count(t, ctx, boxes+`:checked`); n != 5 {
		t.Fatalf("shift-click ticked %d, want 5", n)
	}
	if got := text(t, ctx, `[data-batch-count]`); got != "5 VMs selected." {
		t.Errorf("count: %q", got)
	}
	// The header box shows all are ticked; with the keyboard it clears them and ticks them again.
	if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('th [data-batch-all]').checked`)); !ok {
		t.Error("the header box is not ticked with every row")
	}
	err = chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`th [data-batch-all]`)), chromedp.KeyEvent(" "))
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, boxes+`:checked`); n != 0 {
		t.Fatalf("select-all off: %d still ticked", n)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, boxes+`:checked`); n != 5 {
		t.Fatalf("select-all with the keyboard ticked %d", n)
	}
	// A live update replaces the rows (static/js/live.js): the ticks survive it.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var el = document.querySelector('#vm-rows');
		el.setAttribute('data-old', '1');
		htmx.ajax('GET', el.getAttribute('data-hx-get'), {source: el, target: el, swap: 'outerHTML'});
		return true;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, ctx, `#vm-rows[data-old]`, 0)
	settle(t, ctx)
	if n := count(t, ctx, boxes+`:checked`); n != 5 {
		t.Fatalf("after the rows were replaced %d are ticked, want 5", n)
	}
	screenshot(t, ctx, "batch-01-list-selected")
	phone(t, ctx, "batch-02-list-selected-phone")

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="batch-stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-results"]`)),
	)
	if err != nil {
		t.Fatalf("batch stop: %v", err)
	}
	if got := text(t, ctx, `[data-testid="batch-summary"]`); got != "5 stop queued." {
		t.Errorf("summary: %q", got)
	}
	if n := count(t, ctx, `[data-testid="batch-results"] tr[data-outcome="queued"] a[href^="/vms/"]`); n != 5 {
		t.Errorf("%d queued rows with a VM link, want 5", n)
	}
	screenshot(t, ctx, "batch-03-stop-result")
	phone(t, ctx, "batch-04-stop-result-phone")
	c := env.App.Store.Ent
	for _, v := range vms {
		waitDB(t, v.Name+" to stop", func() bool { return c.VM.GetX(bg, v.ID).Status == vm.StatusSTOPPED })
	}
	// Back on the list nothing is ticked any more, and the rows say Stopped.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="batch-back"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-batch"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, ctx, `#vm-rows [data-status="STOPPED"]`, 5)
	if n := count(t, ctx, boxes+`:checked`); n != 0 {
		t.Errorf("%d rows still ticked after the action", n)
	}

	// dana (owner of intranet) deletes two of them: a confirmation page lists both, and
	// both deletions go to an approver.
	signOut(t, ctx)
	signIn(t, ctx, env, "dana")
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-delete"]`)))
	if err != nil {
		t.Fatal(err)
	}
	clickBox(t, ctx, `[data-vm="`+vms[0].Name+`"] input[name="vm"]`, false)
	clickBox(t, ctx, `[data-vm="`+vms[1].Name+`"] input[name="vm"]`, false)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="batch-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-delete-form"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="batch-delete-confirm"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-reason`), "The wiki moved to the shared cluster."),
	)
	if err != nil {
		t.Fatalf("batch delete confirmation: %v", err)
	}
	if n := count(t, ctx, `[data-testid="batch-delete-vms"] tbody tr`); n != 2 {
		t.Errorf("confirmation lists %d VMs, want 2", n)
	}
	screenshot(t, ctx, "batch-09-delete-confirm")
	phone(t, ctx, "batch-10-delete-confirm-phone")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="batch-delete-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-results"]`)),
	)
	if err != nil {
		t.Fatalf("batch delete: %v", err)
	}
	if n := count(t, ctx, `[data-testid="batch-results"] tr[data-outcome="requested"]`); n != 2 {
		t.Errorf("%d deletions requested, want 2", n)
	}
	screenshot(t, ctx, "batch-11-delete-result")
}

// phone takes a screenshot at 390 px and checks the page fits, then returns to 1280 px.
func phone(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, name)
	fitsPhoneScreen(t, ctx, name)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// TestBatchApproveFromTheInbox: bob ticks five pending requests in his inbox and approves
// them at once; the summary shows five outcomes and every ticket is approved.
func TestBatchApproveFromTheInbox(t *testing.T) {
	env := apptest.Start(t)
	bg := context.Background()
	c := env.App.Store.Ent
	wiki := c.Service.Query().Where(service.Name("wiki")).OnlyX(bg)
	alice, err := testorg.DemoWho(bg, c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tk, gov, err := testorg.DemoTicket(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Namespace: "dev", Reason: "batch 0"})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{tk.ID.String()}
	for i := 1; i < 5; i++ {
		svc := c.Service.Create().SetSystemID(wiki.SystemID).SetName(fmt.Sprintf("wiki%d", i)).SaveX(bg)
		t2, err := gov.Submit(bg, alice, governance.RequestInput{ServiceID: svc.ID, NamespaceID: tk.NamespaceID, TemplateID: *tk.TemplateID,
			SizeID: *tk.InstanceSizeID, DiskGB: 80, Reason: fmt.Sprintf("batch %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, t2.ID.String())
	}
	ctx := browser(t)
	signIn(t, ctx, env, "bob")
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/approvals"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="inbox-batch"]`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		clickBox(t, ctx, `input[name="ticket"][value="`+id+`"]`, false)
	}
	if got := text(t, ctx, `[data-batch-count]`); got != "5 requests selected." {
		t.Errorf("count: %q", got)
	}
	screenshot(t, ctx, "batch-05-inbox-selected")
	phone(t, ctx, "batch-06-inbox-selected-phone")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="batch-approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-results"]`)),
	)
	if err != nil {
		t.Fatalf("batch approve: %v", err)
	}
	if n := count(t, ctx, `[data-testid="batch-results"] tbody tr`); n != 5 {
		t.Errorf("%d outcomes, want 5", n)
	}
	if got := text(t, ctx, `[data-testid="batch-summary"]`); got != "5 approved." {
		t.Errorf("summary: %q (%s)", got, text(t, ctx, `[data-testid="batch-results"]`))
	}
	screenshot(t, ctx, "batch-07-approve-result")
	phone(t, ctx, "batch-08-approve-result-phone")
	for _, id := range ids {
		st := c.ApprovalTicket.GetX(bg, uuidOf(t, id)).Status
		if st == approvalticket.StatusPENDING_APPROVAL || st == approvalticket.StatusREJECTED {
			t.Errorf("%s: %s", id, st)
		}
	}
	if !strings.Contains(text(t, ctx, `[data-testid="batch-results"]`), "is being created on") {
		t.Error("the outcomes do not name the VMs being created")
	}
}
