package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestAutoApprovalPolicyInTheBrowser: carol drafts a policy for small test VMs, its dry
// run lists the request bob approved earlier, she enables it; alice's matching request
// runs without an approver, a non-matching one waits in the inbox, and after the kill
// switch the next matching request waits too.
func TestAutoApprovalPolicyInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	db := env.App.Store.Ent
	bg := context.Background()

	// History for the dry run: one small request bob approved, one he rejected.
	past := demoVM(t, env)
	rejected, gov, err := testorg.DemoTicket(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Namespace: "dev", Reason: "a second index"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gov.Reject(bg, who(t, env, "bob"), rejected.ID, "one index is enough"); err != nil {
		t.Fatal(err)
	}
	waitCreated(t, env, past.ID)

	signIn(t, ctx, env, "carol")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/admin/policies"),
		chromedp.Click(chromedp.CSS(`[data-testid="new-policy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policy-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "small-dev"),
		chromedp.SetValue(chromedp.CSS(`#f-priority`), "10"),
		selectByText(`#f-size_ids`, "small"),
		chromedp.Click(chromedp.CSS(`[data-testid="save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policy-dry-run"]`)),
	)
	if err != nil {
		t.Fatalf("draft the policy: %v", err)
	}
	screenshot(t, ctx, "70-policy-draft")
	if got := text(t, ctx, `[data-testid="dry-run-matches"]`); got != "2" {
		t.Fatalf("dry run matches: %q, want 2 (the approved and the rejected request)", got)
	}
	if n := count(t, ctx, `[data-ticket="`+rejected.ID.String()+`"][data-would-approve="true"]`); n != 1 {
		t.Fatal("the dry run does not show the rejected request it would have approved")
	}
	if got := text(t, ctx, `[data-ticket="`+rejected.ID.String()+`"]`); !strings.Contains(got, "one index is enough") {
		t.Fatalf("the dry run does not show the approver's reason: %q", got)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="enable-small-dev"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="disable-small-dev"]`)),
	)
	if err != nil {
		t.Fatalf("enable: %v", err)
	}
	signOut(t, ctx)

	// A matching request runs without anyone approving it.
	signIn(t, ctx, env, "alice")
	autoURL := requestVM(t, ctx, env, "intranet / wiki", "small", "Search index rebuild", "")
	if got := text(t, ctx, `[data-testid="auto-approved"]`); !strings.Contains(got, "policy small-dev (v1)") {
		t.Fatalf("request page: %q", got)
	}
	screenshot(t, ctx, "71-auto-approved")
	auto := db.ApprovalTicket.GetX(bg, uuidOf(t, autoURL))
	if auto.VMID == nil || auto.DecidedByPolicyID == nil {
		t.Fatalf("auto-approved ticket: %+v", auto)
	}
	waitCreated(t, env, *auto.VMID)

	// A request outside the policy (another size) waits for an approver.
	otherURL := requestVM(t, ctx, env, "intranet / wiki", "medium", "A bigger index", "")
	if got := text(t, ctx, `[data-testid="ticket-status"]`); !strings.Contains(got, "Waiting for approval") {
		t.Fatalf("non-matching request: %q", got)
	}
	if db.ApprovalTicket.GetX(bg, uuidOf(t, otherURL)).Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatal("non-matching request decided")
	}
	signOut(t, ctx)

	// The kill switch stops the next match.
	signIn(t, ctx, env, "carol")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/admin/policies"),
		chromedp.Click(chromedp.CSS(`[data-testid="kill-switch-on"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="kill-switch"][data-all-off="true"]`)),
	)
	if err != nil {
		t.Fatalf("kill switch: %v", err)
	}
	signOut(t, ctx)
	signIn(t, ctx, env, "alice")
	requestVM(t, ctx, env, "intranet / wiki", "small", "Another search index", "")
	if got := text(t, ctx, `[data-testid="ticket-status"]`); !strings.Contains(got, "Waiting for approval") {
		t.Fatalf("after the kill switch: %q", got)
	}
}

// uuidOf is the id at the end of a page URL.
func uuidOf(t *testing.T, pageURL string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(pageURL[strings.LastIndex(pageURL, "/")+1:])
	if err != nil {
		t.Fatalf("no id in %s", pageURL)
	}
	return id
}
