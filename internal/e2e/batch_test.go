package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

// requestBatch fills the request form for n VMs as the signed-in user and returns the
// batch page URL.
func requestBatch(t *testing.T, ctx context.Context, env *apptest.Env, n, reason, shot string) string {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/requests/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="submit-request"]`)),
		selectByText(`#f-service_id`, "alpha / api"),
		selectByText(`#f-namespace_id`, "dev ("),
		selectByText(`#f-template_id`, "Ubuntu"),
		selectByText(`#f-size_id`, "small ("),
		chromedp.WaitVisible(chromedp.CSS(`#size-card dl`)),
	)
	if err != nil {
		t.Fatalf("fill request: %v", err)
	}
	settle(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#f-count`), n),
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
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-children"]`)),
	)
	if err != nil {
		t.Fatalf("submit batch: %v", err)
	}
	return location(t, ctx)
}

// approveBatchFromInbox has the signed-in approver open the batch's one inbox row and
// approve all its VMs on cluster; it ends on the batch page.
func approveBatchFromInbox(t *testing.T, ctx context.Context, env *apptest.Env, batchID, cluster, shot string) {
	t.Helper()
	row := `a[data-testid="inbox-batch"][href="/approvals/batches/` + batchID + `"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	if err != nil {
		t.Fatalf("inbox: %v", err)
	}
	if got := text(t, ctx, row); got != "3 new VMs" {
		t.Errorf("inbox row of the batch: %q", got)
	}
	if n := count(t, ctx, `[data-testid="inbox"] tbody tr`); n != 1 {
		t.Errorf("inbox rows: %d, want the batch as one row", n)
	}
	if shot != "" {
		screenshot(t, ctx, shot+"-inbox")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approve-batch"]`)),
		selectByText(`#f-cluster_id`, cluster),
	)
	if err != nil {
		t.Fatalf("batch approval page: %v", err)
	}
	settle(t, ctx)
	if shot != "" {
		screenshot(t, ctx, shot+"-approval")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="approve-batch"]`))); err != nil {
		t.Fatalf("approve batch: %v", err)
	}
	// The batch page, with the approval's message (the approval page had none).
	waitFor(t, ctx, `#flash-area .flash`, 10*time.Second)
	if got := text(t, ctx, `#flash-area .flash`); got != "Approved. 3 VMs are being created." {
		t.Errorf("flash after the approval: %q", got)
	}
}

// markPage marks the open page, so a later check can tell it was updated in place
// rather than reloaded.
func markPage(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.shepherdTestMark = true`)); err != nil {
		t.Fatal(err)
	}
}

func stillMarked(t *testing.T, ctx context.Context) {
	t.Helper()
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.shepherdTestMark === true`)); err != nil || !still {
		t.Error("the page was reloaded instead of updating itself")
	}
}

// batchIs waits for the batch page (updating itself, no reload) to show status.
func batchIs(t *testing.T, ctx context.Context, status string, d time.Duration) {
	t.Helper()
	waitFor(t, ctx, `#batch-live [data-testid="batch-status"] [data-status="`+status+`"]`, d)
}

// TestBatchCreateInTheBrowser: dana asks for three VMs at once, bob approves the batch
// from its one inbox row, and the batch page follows all three to RUNNING. A second
// batch meets a cluster fault on one VM: partial success, then "Retry failed items"
// creates the missing one and the batch completes.
func TestBatchCreateInTheBrowser(t *testing.T) {
	// Simulated clusters slow enough that each VM is seen in progress before it runs.
	env := apptest.Start(t, func(c *config.Config) { c.SimStepDelay = 3 * time.Second })
	ctx := browserFor(t, 5*time.Minute)
	bg := context.Background()

	signIn(t, ctx, env, "dana")
	createSystemAndService(t, ctx, env)
	batchURL := requestBatch(t, ctx, env, "3", "Three build agents for the alpha team", "60-batch-form")
	batchID := batchURL[strings.LastIndex(batchURL, "/")+1:]
	batchIs(t, ctx, "PENDING_APPROVAL", 5*time.Second)
	if n := count(t, ctx, `#batch-live tbody tr`); n != 3 {
		t.Fatalf("batch children: %d", n)
	}
	screenshot(t, ctx, "61-batch-pending")
	// My requests lists the batch as one row, and a child's request page links back.
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="request-batch"]`)),
	)
	if err != nil {
		t.Fatalf("my requests: %v", err)
	}
	if n := count(t, ctx, `[data-testid="my-requests"] tbody tr`); n != 1 {
		t.Errorf("my requests rows: %d, want the batch as one row", n)
	}
	signOut(t, ctx)

	signIn(t, ctx, env, "bob")
	approveBatchFromInbox(t, ctx, env, batchID, "sim-test-a", "62-batch")
	// The VMs take a few simulated seconds; the page follows them without a reload.
	if got := attr(t, ctx, `#batch-live [data-testid="batch-status"] [data-status]`, "data-status"); got != "IN_PROGRESS" {
		t.Errorf("status right after the approval: %s", got)
	}
	screenshot(t, ctx, "62-batch-in-progress")
	markPage(t, ctx)
	batchIs(t, ctx, "COMPLETED", 90*time.Second)
	stillMarked(t, ctx)
	if n := count(t, ctx, `#batch-live [data-testid="child-vm-status"] [data-status="RUNNING"]`); n != 3 {
		t.Fatalf("running VMs on the batch page: %d", n)
	}
	screenshot(t, ctx, "63-batch-completed")
	signOut(t, ctx)

	// Second batch: the simulated cluster refuses the next VM it is asked to apply
	// (a test-only hook of the simulated provider; one-shot, so it clears itself).
	signIn(t, ctx, env, "dana")
	second := requestBatch(t, ctx, env, "3", "Three more, for the release week", "")
	secondID := second[strings.LastIndex(second, "/")+1:]
	signOut(t, ctx)
	s := env.App.Clusters.Sim(bg, "sim-test-a")
	if s == nil {
		t.Fatal("no simulated cluster sim-test-a")
	}
	s.FailNext(sim.OpApplyVM, kube.NewPermanent(kube.CodeValidationFailed, "injected: the cluster refused the VM"))
	signIn(t, ctx, env, "bob")
	approveBatchFromInbox(t, ctx, env, secondID, "sim-test-a", "")
	signOut(t, ctx)

	signIn(t, ctx, env, "dana")
	err = chromedp.Do(ctx, chromedp.Navigate(second), chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-children"]`)))
	if err != nil {
		t.Fatal(err)
	}
	batchIs(t, ctx, "PARTIAL_SUCCESS", 90*time.Second)
	if got := text(t, ctx, `#batch-live [data-testid="batch-status"]`); got != "Partial success" {
		t.Errorf("status in words: %q", got)
	}
	if got := text(t, ctx, `#batch-live [data-testid="child-error"]`); !strings.Contains(got, "injected") {
		t.Errorf("child error: %q", got)
	}
	screenshot(t, ctx, "64-batch-partial")
	// Click once the live stream is up and no re-fetch is in flight, so the button is not
	// replaced under the click.
	waitFor(t, ctx, `html[data-live-stream="open"]`, 10*time.Second)
	settle(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="retry-failed"]`)),
	)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	// The redirected page says what happened (the old page had no message).
	waitFor(t, ctx, `#flash-area .flash`, 10*time.Second)
	if got := text(t, ctx, `#flash-area .flash`); got != "Retrying 1 failed VM." {
		t.Errorf("flash after the retry: %q", got)
	}
	// The retried VM takes a few simulated seconds: the page shows it in progress, then
	// follows it to the end by itself (live updates, no reload).
	if got := attr(t, ctx, `#batch-live [data-testid="batch-status"] [data-status]`, "data-status"); got != "IN_PROGRESS" {
		t.Errorf("status right after the retry: %s", got)
	}
	if got := text(t, ctx, `[data-testid="batch-summary"]`); got != "1 being created, 2 done" {
		t.Errorf("summary right after the retry: %q", got)
	}
	markPage(t, ctx)
	batchIs(t, ctx, "COMPLETED", 90*time.Second)
	stillMarked(t, ctx)
	if n := count(t, ctx, `#batch-live [data-testid="child-vm-status"] [data-status="RUNNING"]`); n != 3 {
		t.Fatalf("running VMs after the retry: %d", n)
	}
	if n := count(t, ctx, `[data-testid="retry-failed"]`); n != 0 {
		t.Error("retry still offered for a completed batch")
	}
	screenshot(t, ctx, "65-batch-retried")
	// Each child stays reachable on its own and links back to its batch.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#batch-live tbody tr:first-child td[data-label="Request"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-link"]`)),
	)
	if err != nil {
		t.Fatalf("child request page: %v", err)
	}
	if href := attr(t, ctx, `[data-testid="batch-link"]`, "href"); href != "/batches/"+secondID {
		t.Errorf("batch link %q", href)
	}
	// On a phone the batch page's table stacks and nothing scrolls sideways.
	err = chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(second),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="batch-children"]`)))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "phone-batch")
	fitsPhoneScreen(t, ctx, "batch")
	for action, want := range map[string]int{"vm.batch_request": 2, "approval.batch_approve": 2, "vm.batch_retry": 1, "vm.retry": 1} {
		if n, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action(action)).Count(bg); err != nil || n != want {
			t.Errorf("audit %s: %d, want %d (%v)", action, n, want, err)
		}
	}
}
