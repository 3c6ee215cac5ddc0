package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/pendingadoption"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/provisioning"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestClusterDriftIsVisible: a VM is deleted on its cluster behind Shepherd's back and a
// stranger VM with Shepherd's labels appears there. Nothing crashes; the VM page warns
// that the VM is missing, and Admin → Cluster sync lists the ghost and the orphan.
func TestClusterDriftIsVisible(t *testing.T) {
	env := apptest.Start(t)
	bg := context.Background()
	c := env.App.Store.Ent
	v := demoVM(t, env)
	// Running, and its create ticket closed: a VM seen Running is shown RUNNING before its
	// worker records the outcome, and one deleted before that is a failed creation instead.
	waitCreated(t, env, v.ID)

	sim := env.App.Clusters.Sim(bg, "sim-test-a")
	if err := sim.DeleteVM(bg, kube.VMRef{Namespace: v.NamespaceName, Name: v.Name}); err != nil {
		t.Fatal(err)
	}
	stranger := kube.VMSpec{Ref: kube.VMRef{Namespace: "dev", Name: "dev-intranet-wiki-77"}, Image: "quay.io/containerdisks/fedora:40",
		Running: true, Labels: map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue,
			provisioning.LabelSystem: "intranet", provisioning.LabelService: "wiki", provisioning.LabelInstance: "77"}}
	if _, err := sim.ApplyVM(bg, stranger); err != nil {
		t.Fatal(err)
	}
	waitDB(t, "status sync to notice the deletion", func() bool { return !c.VM.GetX(bg, v.ID).K8sExists })
	if _, err := env.App.River.Insert(bg, reconcile.Args{}, nil); err != nil {
		t.Fatal(err)
	}
	waitDB(t, "the reconciler to record the orphan", func() bool {
		return c.PendingAdoption.Query().Where(pendingadoption.Name(stranger.Ref.Name)).ExistX(bg)
	})

	ctx := browser(t)
	signIn(t, ctx, env, "dana")
	openVM(t, ctx, env, v.Name)
	waitFor(t, ctx, `[data-testid="vm-missing"]`, 10*time.Second)
	if got := attr(t, ctx, `#vm-status [data-status]`, "data-status"); got != "UNKNOWN" {
		t.Errorf("status of a VM missing on its cluster: %q", got)
	}
	if n := count(t, ctx, `[data-testid="power-start"], [data-testid="power-stop"], [data-testid="power-restart"]`); n != 0 {
		t.Errorf("%d power buttons offered for a VM that is not on its cluster", n)
	}
	screenshot(t, ctx, "40-vm-missing")
	signOut(t, ctx)

	signIn(t, ctx, env, "carol")
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/admin/reconcile"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ghosts"] tr[data-row="`+v.Name+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="orphans"] tr[data-row="`+stranger.Ref.Name+`"]`)),
	)
	if err != nil {
		t.Fatalf("cluster sync page: %v", err)
	}
	if got := attr(t, ctx, `[data-testid="orphans"] tr[data-row="`+stranger.Ref.Name+`"] [data-adoptable]`, "data-adoptable"); got != "yes" {
		t.Errorf("orphan of an existing Service should be adoptable, got %q", got)
	}
	screenshot(t, ctx, "41-cluster-sync")
}

// demoVM has demo alice request a small Ubuntu VM for intranet/wiki in dev and demo bob
// approve it on sim-test-a, through the governance use cases (the browser flow for that
// is TestRequestApproveRejectCancelInTheBrowser).
func demoVM(t *testing.T, env *apptest.Env) *ent.VM {
	t.Helper()
	v, _, err := testorg.DemoVM(context.Background(), env.App.Store, testorg.DemoRequest{
		Requester: "alice",
		Approver:  "bob",
		Namespace: "dev",
		Cluster:   "sim-test-a",
		Reason:    "the wiki's search index",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitCreated waits until the VM runs and its creation is recorded (ticket SUCCESS). A VM
// seen Running is shown RUNNING a moment before its worker closes the ticket, and no
// other operation may start until it has.
func waitCreated(t *testing.T, env *apptest.Env, id uuid.UUID) {
	t.Helper()
	c, bg := env.App.Store.Ent, context.Background()
	waitDB(t, "the VM to run and its creation to be recorded", func() bool {
		return c.VM.GetX(bg, id).Status == vm.StatusRUNNING && c.ApprovalTicket.Query().
			Where(approvalticket.VMID(id), approvalticket.TypeEQ(approvalticket.TypeVM_CREATE), approvalticket.StatusEQ(approvalticket.StatusSUCCESS)).ExistX(bg)
	})
}

func waitDB(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
