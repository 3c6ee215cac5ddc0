package governance

import (
	"errors"
	"sync"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
)

func TestSubmitWritesEventTicketAuditNotificationAndNoJob(t *testing.T) {
	f := newFixture(t)
	jobsBefore := f.count("river_job")
	tk := f.submit()
	if tk.Status != approvalticket.StatusPENDING_APPROVAL || tk.NamespaceName != "dev" || tk.TargetName != "shop/web" {
		t.Fatalf("ticket: %+v", tk)
	}
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if ev.Status != domainevent.StatusPENDING || ev.EventType != "VM_CREATE_REQUESTED" || ev.Payload["namespace"] != "dev" {
		t.Fatalf("event: %+v", ev)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("vm.request")).Count(f.ctx)); n != 1 {
		t.Fatalf("audit rows: %d", n)
	}
	notes := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).All(f.ctx))
	// bob, carl and the platform admin; never the requester.
	if len(notes) != 3 {
		t.Fatalf("approver notifications: %d", len(notes))
	}
	for _, n := range notes {
		if n.RecipientID == f.alice.ID {
			t.Fatal("the requester was asked to approve her own request")
		}
	}
	if f.count("vms") != 0 || f.count("river_job") != jobsBefore {
		t.Fatal("a request must create no VM and no job")
	}
}

func TestSubmitRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	alice := f.who(f.alice)
	in := f.request(f.dev, f.size, 100)
	in.Forbidden = []string{"cluster_id"}
	var de *domain.Error
	if _, err := f.gov.Submit(f.ctx, alice, in); !errors.As(err, &de) || de.Code != domain.CodeForbiddenField {
		t.Fatalf("forbidden field: %v", err)
	}
	var ve *domain.ValidationError
	if _, err := f.gov.Submit(f.ctx, alice, f.request(f.dev, f.size, 10)); !errors.As(err, &ve) || ve.Fields["disk_gb"] == "" {
		t.Fatalf("disk below the minimum: %v", err)
	}
	if _, err := f.gov.Submit(f.ctx, alice, f.request(f.live, f.size, 100)); !errors.As(err, &ve) || ve.Fields["namespace_id"] == "" {
		t.Fatalf("prod namespace for a test-only user: %v", err)
	}
	noReason := f.request(f.dev, f.size, 100)
	noReason.Reason = "  "
	if _, err := f.gov.Submit(f.ctx, alice, noReason); !errors.As(err, &ve) || ve.Fields["reason"] == "" {
		t.Fatalf("missing reason: %v", err)
	}
	// bob holds no vm:create and is no member of shop: the service is not his to use.
	if _, err := f.gov.Submit(f.ctx, f.who(f.bob), f.request(f.dev, f.size, 100)); !errors.As(err, &ve) || ve.Fields["service_id"] == "" {
		t.Fatalf("outsider request: %v", err)
	}
	first := f.submit()
	var dup *DuplicateError
	if _, err := f.gov.Submit(f.ctx, alice, f.request(f.dev, f.size, 100)); !errors.As(err, &dup) || dup.TicketID != first.ID {
		t.Fatalf("duplicate: %v", err)
	}
	if n := f.count("approval_tickets"); n != 1 {
		t.Fatalf("tickets written: %d", n)
	}
}

func TestApproveCreatesVMAndJobAtomically(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	v, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: tk.ID, StorageClass: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "dev-shop-web-01" || v.Status != vm.StatusCREATING || v.ClusterID != f.testCluster.ID || v.StorageClass != "fast" {
		t.Fatalf("vm: %+v", v)
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	if tk.Status != approvalticket.StatusAPPROVED || tk.ApproverName != "bob" || tk.FinalCPULimit != "2" || tk.FinalMemLimit != "4Gi" ||
		tk.TemplateSnapshot["image"] == nil || tk.InstanceSizeSnapshot["name"] != "medium" || tk.ModifiedSpec["disk_gb"] == nil {
		t.Fatalf("ticket after approval: %+v", tk)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID)); ev.Status != domainevent.StatusPROCESSING {
		t.Fatalf("event status %s", ev.Status)
	}
	if n := f.jobsFor(tk.EventID); n != 1 {
		t.Fatalf("jobs for the event: %d", n)
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_APPROVED), notification.RecipientID(f.alice.ID)).Count(f.ctx)); n != 1 {
		t.Fatalf("requester notification: %d", n)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.approve")).Count(f.ctx)); n != 1 {
		t.Fatalf("audit: %d", n)
	}
	// The counter only grows: the next VM of the service is -02.
	tk2, err := f.gov.Submit(f.ctx, f.who(f.alice), RequestInput{ServiceID: f.svc.ID, NamespaceID: f.dev.ID, TemplateID: f.tpl.ID, SizeID: f.size.ID, DiskGB: 60, Reason: "second"})
	if err != nil {
		t.Fatal(err)
	}
	v2 := must(f.gov.Approve(f.ctx, f.who(f.carl), ApproveInput{TicketID: tk2.ID}))
	if v2.Name != "dev-shop-web-02" {
		t.Fatalf("second name %s", v2.Name)
	}
}

func TestFailureAfterJobInsertLeavesNothing(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	jobs, vms := f.count("river_job"), f.count("vms")
	f.gov.afterJobInsert = func() error { return errors.New("injected failure after the job insert") }
	if _, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: tk.ID}); err == nil {
		t.Fatal("approval succeeded despite the injected failure")
	}
	if f.count("river_job") != jobs || f.count("vms") != vms || f.jobsFor(tk.EventID) != 0 {
		t.Fatal("job or VM survived a rolled-back approval")
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	svc := must(f.store.Ent.Service.Get(f.ctx, f.svc.ID))
	if tk.Status != approvalticket.StatusPENDING_APPROVAL || ev.Status != domainevent.StatusPENDING || svc.NextInstanceIndex != 1 {
		t.Fatalf("half-written approval: ticket %s event %s index %d", tk.Status, ev.Status, svc.NextInstanceIndex)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.approve")).Count(f.ctx)); n != 0 {
		t.Fatal("audit row of a rolled-back approval")
	}
	f.gov.afterJobInsert = nil
	if _, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: tk.ID}); err != nil {
		t.Fatalf("retry after the failure: %v", err)
	}
}

// A cluster deleted (or disabled) between the approver's plan and the commit is not
// approved onto: the transaction reads it under a share lock, so a deletion either
// lands first and is seen, or waits and then finds the VM and refuses.
func TestApprovalOntoAClusterDeletedMeanwhileIsRefused(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	f.gov.afterPlan = func() {
		f.store.Ent.Cluster.UpdateOneID(f.testCluster.ID).SetDeletedAt(time.Now()).SetEnabled(false).ExecX(f.ctx)
	}
	vms := f.count("vms")
	_, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: tk.ID, ClusterID: f.testCluster.ID})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeClusterUnhealthy {
		t.Fatalf("approval onto a deleted cluster: err = %v", err)
	}
	if f.count("vms") != vms || must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID)).Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatal("the refused approval left a VM or moved the ticket")
	}
}

func TestTwoApproversAtOnceExactlyOneWins(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []*Requester{ptr(f.who(f.bob)), ptr(f.who(f.carl))} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.gov.Approve(f.ctx, *u, ApproveInput{TicketID: tk.ID})
		}()
	}
	wg.Wait()
	wins, stale := 0, 0
	for _, err := range errs {
		var de *domain.Error
		switch {
		case err == nil:
			wins++
		case errors.As(err, &de) && de.Code == domain.CodeStaleTicket:
			stale++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || stale != 1 || f.count("vms") != 1 || f.jobsFor(tk.EventID) != 1 {
		t.Fatalf("wins %d stale %d vms %d", wins, stale, f.count("vms"))
	}
}

func ptr[T any](v T) *T { return &v }

func TestSelfApprovalIsRefusedAndAudited(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	// alice, given approver rights, tries to approve her own request.
	self := Requester{User: f.alice, Principal: f.who(f.bob).Principal}
	_, err := f.gov.Approve(f.ctx, self, ApproveInput{TicketID: tk.ID})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeSelfApproval {
		t.Fatalf("self approval: %v", err)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.self_approve_refused")).Count(f.ctx)); n != 1 {
		t.Fatal("self-approval attempt not audited")
	}
	if f.count("vms") != 0 {
		t.Fatal("VM created by a self-approval")
	}
}

func TestRejectAndCancel(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	var ve *domain.ValidationError
	if err := f.gov.Reject(f.ctx, f.who(f.bob), tk.ID, " "); !errors.As(err, &ve) {
		t.Fatalf("reject without reason: %v", err)
	}
	if err := f.gov.Reject(f.ctx, f.who(f.bob), tk.ID, "wrong namespace"); err != nil {
		t.Fatal(err)
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if tk.Status != approvalticket.StatusREJECTED || tk.DecisionReason != "wrong namespace" || ev.Status != domainevent.StatusCANCELLED {
		t.Fatalf("after reject: %s %s", tk.Status, ev.Status)
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_REJECTED)).Count(f.ctx)); n != 1 {
		t.Fatal("requester not notified of the rejection")
	}
	var de *domain.Error
	if _, err := f.gov.Approve(f.ctx, f.who(f.carl), ApproveInput{TicketID: tk.ID}); !errors.As(err, &de) || de.Code != domain.CodeStaleTicket {
		t.Fatalf("approving a rejected ticket: %v", err)
	}

	tk2 := f.submit()
	if err := f.gov.Cancel(f.ctx, f.who(f.bob), tk2.ID, ""); err == nil {
		t.Fatal("an approver who is not the requester nor a System admin cancelled")
	}
	if err := f.gov.Cancel(f.ctx, f.who(f.alice), tk2.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	if tk2 = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk2.ID)); tk2.Status != approvalticket.StatusCANCELLED {
		t.Fatalf("cancel: %s", tk2.Status)
	}
	if err := f.gov.Cancel(f.ctx, f.who(f.alice), tk2.ID, ""); !errors.As(err, &de) || de.Code != domain.CodeStaleTicket {
		t.Fatalf("cancelling twice: %v", err)
	}
	if f.count("vms") != 0 {
		t.Fatal("VM after reject/cancel")
	}
}

func TestApprovalRefusesTamperingAndBlockingChoices(t *testing.T) {
	f := newFixture(t)
	tk := f.submit()
	bob := f.who(f.bob)
	var de *domain.Error
	if _, err := f.gov.Approve(f.ctx, bob, ApproveInput{TicketID: tk.ID, Namespace: "live"}); !errors.As(err, &de) || de.Code != domain.CodeForbiddenField {
		t.Fatalf("namespace change: %v", err)
	}
	var ve *domain.ValidationError
	if _, err := f.gov.Approve(f.ctx, bob, ApproveInput{TicketID: tk.ID, ClusterID: f.prodClus.ID}); !errors.As(err, &ve) || ve.Fields["cluster_id"] == "" {
		t.Fatalf("prod cluster for a test namespace: %v", err)
	}
	if _, err := f.gov.Approve(f.ctx, bob, ApproveInput{TicketID: tk.ID, StorageClass: "nope"}); !errors.As(err, &ve) || ve.Fields["storage_class"] == "" {
		t.Fatalf("unknown storage class: %v", err)
	}
	if _, err := f.gov.Approve(f.ctx, bob, ApproveInput{TicketID: tk.ID, DiskGB: 9999}); !errors.As(err, &ve) || ve.Fields["disk_gb"] == "" {
		t.Fatalf("disk over the maximum: %v", err)
	}
	// Dedicated CPU with an overcommitted request blocks the approval.
	pinned, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.dedicated, 100))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := f.gov.PlanApproval(f.ctx, pinned, ApproveInput{TicketID: pinned.ID, Override: true, CPURequestCores: "2", MemRequestGiB: "8"})
	if err != nil || !plan.Blocked() || plan.Errors["cpu_request"] == "" {
		t.Fatalf("dedicated + overcommit must block: %+v %v", plan, err)
	}
	if f.count("vms") != 0 || tk.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatal("refused approvals wrote something")
	}
}
