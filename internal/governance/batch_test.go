package governance

import (
	"errors"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
)

func (f *fixture) submitBatch(n int) *ent.TicketBatch {
	f.t.Helper()
	b, err := f.gov.SubmitBatch(f.ctx, f.who(f.alice), f.request(f.dev, f.size, 100), n)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) children(b *ent.TicketBatch) []*ent.ApprovalTicket {
	return must(f.store.Ent.ApprovalTicket.Query().Where(approvalticket.BatchID(b.ID)).
		Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).All(f.ctx))
}

func (f *fixture) audits(action string) int {
	return must(f.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).Count(f.ctx))
}

func (f *fixture) batchStatus(b *ent.TicketBatch) string {
	f.t.Helper()
	v, err := f.gov.BatchFor(f.ctx, f.who(f.alice), b.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Status
}

func TestBatchSubmitIsAllOrNothing(t *testing.T) {
	f := newFixture(t)
	alice := f.who(f.alice)
	tables := []string{"ticket_batches", "approval_tickets", "domain_events", "audit_logs", "notifications", "river_job"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = f.count(tb)
	}
	// The third child fails validation: the parent and the first two must not survive.
	f.gov.beforeBatchChild = func(i int) error {
		if i == 2 {
			return &domain.ValidationError{Fields: domain.FieldErrors{"size_id": "injected: the third VM does not fit"}}
		}
		return nil
	}
	var ve *domain.ValidationError
	if _, err := f.gov.SubmitBatch(f.ctx, alice, f.request(f.dev, f.size, 100), 3); !errors.As(err, &ve) {
		t.Fatalf("batch with a failing third child: %v", err)
	}
	for _, tb := range tables {
		if n := f.count(tb); n != before[tb] {
			t.Errorf("%s: %d rows after a failed batch, want %d", tb, n, before[tb])
		}
	}
	f.gov.beforeBatchChild = nil

	for _, n := range []int{0, 1, MaxBatchCreate + 1} {
		if _, err := f.gov.SubmitBatch(f.ctx, alice, f.request(f.dev, f.size, 100), n); !errors.As(err, &ve) || ve.Fields["count"] == "" {
			t.Errorf("count %d: %v", n, err)
		}
	}

	b := f.submitBatch(3)
	kids := f.children(b)
	if len(kids) != 3 || b.ChildCount != 3 || b.TargetName != "shop/web" {
		t.Fatalf("batch %+v with %d children", b, len(kids))
	}
	for _, k := range kids {
		ev := must(f.store.Ent.DomainEvent.Get(f.ctx, k.EventID))
		if k.Status != approvalticket.StatusPENDING_APPROVAL || k.Type != approvalticket.TypeVM_CREATE || ev.Status != domainevent.StatusPENDING ||
			ev.Payload["batch_id"] != b.ID.String() {
			t.Fatalf("child %+v, event %+v", k, ev)
		}
	}
	if f.audits("vm.request") != 3 || f.audits("vm.batch_request") != 1 {
		t.Fatalf("audit: %d requests, %d batch", f.audits("vm.request"), f.audits("vm.batch_request"))
	}
	// One entry per approver for the batch (bob, carl, the platform admin), not one per VM.
	notes := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).All(f.ctx))
	if len(notes) != 3 {
		t.Fatalf("approver notifications: %d", len(notes))
	}
	for _, n := range notes {
		if n.RecipientID == f.alice.ID || n.Link != "/approvals/batches/"+b.ID.String() {
			t.Fatalf("notification %+v", n)
		}
	}
	if f.count("river_job") != before["river_job"] || f.count("vms") != 0 {
		t.Fatal("a batch request must create no VM and no job")
	}
	// The same request again is a duplicate: nothing of the second batch is written.
	var dup *DuplicateError
	if _, err := f.gov.SubmitBatch(f.ctx, alice, f.request(f.dev, f.size, 100), 2); !errors.As(err, &dup) {
		t.Fatalf("duplicate batch: %v", err)
	}
	if f.count("ticket_batches") != 1 || f.count("approval_tickets") != 3 {
		t.Fatal("a refused duplicate batch left rows")
	}
	if s := f.batchStatus(b); s != BatchPendingApproval {
		t.Fatalf("status %s", s)
	}
}

func TestBatchStatusIsComputedFromChildren(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    BatchCounts
		want string
	}{
		{"nothing decided", BatchCounts{Pending: 3}, BatchPendingApproval},
		{"one decided, two waiting", BatchCounts{Pending: 2, InFlight: 1}, BatchInProgress},
		{"one done, two waiting", BatchCounts{Pending: 2, Succeeded: 1}, BatchInProgress},
		{"one rejected, two waiting", BatchCounts{Pending: 2, Rejected: 1}, BatchInProgress},
		{"running", BatchCounts{InFlight: 2, Succeeded: 1}, BatchInProgress},
		{"running after a failure", BatchCounts{InFlight: 1, Failed: 1}, BatchInProgress},
		{"all done", BatchCounts{Succeeded: 3}, BatchCompleted},
		{"all failed", BatchCounts{Failed: 3}, BatchFailed},
		{"all rejected", BatchCounts{Rejected: 3}, BatchFailed},
		{"failed and rejected", BatchCounts{Failed: 1, Rejected: 2}, BatchFailed},
		{"some failed", BatchCounts{Succeeded: 2, Failed: 1}, BatchPartialSuccess},
		{"some rejected", BatchCounts{Succeeded: 2, Rejected: 1}, BatchPartialSuccess},
	} {
		if got := BatchStatus(tc.c); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestApproveBatchCreatesEachVMAndJobOnce(t *testing.T) {
	f := newFixture(t)
	b := f.submitBatch(3)
	if _, err := f.gov.ApproveBatch(f.ctx, f.who(f.alice), b.ID, ApproveInput{}); err == nil {
		t.Fatal("the requester approved her own batch")
	}
	if f.audits("approval.self_batch_approve_refused") != 1 {
		t.Fatal("self-approval refusal not audited")
	}
	// A failure after a job insert rolls back the whole approval.
	f.gov.afterJobInsert = func() error { return errors.New("injected") }
	if _, err := f.gov.ApproveBatch(f.ctx, f.who(f.bob), b.ID, ApproveInput{StorageClass: "fast"}); err == nil {
		t.Fatal("approval survived an injected failure")
	}
	if f.count("vms") != 0 || f.count("river_job") != 0 || f.audits("approval.approve") != 0 {
		t.Fatal("half an approval was written")
	}
	f.gov.afterJobInsert = nil

	n, err := f.gov.ApproveBatch(f.ctx, f.who(f.bob), b.ID, ApproveInput{StorageClass: "fast"})
	if err != nil || n != 3 {
		t.Fatalf("approve: %d, %v", n, err)
	}
	names := map[string]bool{}
	for _, k := range f.children(b) {
		if k.Status != approvalticket.StatusAPPROVED || k.VMID == nil || k.ApproverName != "bob" || k.SelectedStorageClass != "fast" {
			t.Fatalf("child after approval: %+v", k)
		}
		if j := f.jobsFor(k.EventID); j != 1 {
			t.Fatalf("jobs for child %s: %d", k.ID, j)
		}
		v := must(f.store.Ent.VM.Get(f.ctx, *k.VMID))
		if v.Status != vm.StatusCREATING || v.ClusterID != f.testCluster.ID {
			t.Fatalf("vm %+v", v)
		}
		names[v.Name] = true
	}
	if !names["dev-shop-web-01"] || !names["dev-shop-web-02"] || !names["dev-shop-web-03"] {
		t.Fatalf("names %v", names)
	}
	if f.audits("approval.approve") != 3 || f.audits("approval.batch_approve") != 1 {
		t.Fatal("approval audit rows")
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_APPROVED), notification.RecipientID(f.alice.ID)).Count(f.ctx)); n != 1 {
		t.Fatalf("requester notifications: %d, want one for the batch", n)
	}
	// A second approval (another approver a moment later) changes nothing.
	var de *domain.Error
	if _, err := f.gov.ApproveBatch(f.ctx, f.who(f.carl), b.ID, ApproveInput{}); !errors.As(err, &de) || de.Code != domain.CodeStaleTicket {
		t.Fatalf("second approval: %v", err)
	}
	if f.count("vms") != 3 || f.count("river_job") != 3 {
		t.Fatal("the second approval wrote VMs or jobs")
	}
	if s := f.batchStatus(b); s != BatchInProgress {
		t.Fatalf("status %s", s)
	}
}

func TestDecidingOneChildThenRejectingTheRest(t *testing.T) {
	f := newFixture(t)
	b := f.submitBatch(3)
	kids := f.children(b)
	if _, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: kids[0].ID}); err != nil {
		t.Fatal(err)
	}
	var ve *domain.ValidationError
	if _, err := f.gov.RejectBatch(f.ctx, f.who(f.bob), b.ID, " "); !errors.As(err, &ve) {
		t.Fatalf("reject without a reason: %v", err)
	}
	n, err := f.gov.RejectBatch(f.ctx, f.who(f.bob), b.ID, "two are enough")
	if err != nil || n != 2 {
		t.Fatalf("reject: %d, %v", n, err)
	}
	kids = f.children(b)
	if kids[0].Status != approvalticket.StatusAPPROVED || kids[1].Status != approvalticket.StatusREJECTED ||
		kids[2].Status != approvalticket.StatusREJECTED || kids[2].DecisionReason != "two are enough" {
		t.Fatalf("children: %s %s %s", kids[0].Status, kids[1].Status, kids[2].Status)
	}
	if f.audits("approval.reject") != 2 || f.audits("approval.batch_reject") != 1 {
		t.Fatal("reject audit rows")
	}
	// The approved child still runs; once it is done the batch is a partial success.
	f.finish(kids[0], approvalticket.StatusSUCCESS)
	if s := f.batchStatus(b); s != BatchPartialSuccess {
		t.Fatalf("status %s", s)
	}
}

// finish ends a child's execution as the worker would.
func (f *fixture) finish(t *ent.ApprovalTicket, st approvalticket.Status) {
	f.t.Helper()
	evSt, vmSt, msg := domainevent.StatusCOMPLETED, vm.StatusRUNNING, ""
	if st == approvalticket.StatusFAILED {
		evSt, vmSt, msg = domainevent.StatusFAILED, vm.StatusFAILED, "image pull failed"
	}
	must(0, f.store.Ent.ApprovalTicket.UpdateOneID(t.ID).SetStatus(st).SetErrorMessage(msg).Exec(f.ctx))
	must(0, f.store.Ent.DomainEvent.UpdateOneID(t.EventID).SetStatus(evSt).SetErrorMessage(msg).Exec(f.ctx))
	t = must(f.store.Ent.ApprovalTicket.Get(f.ctx, t.ID))
	must(0, f.store.Ent.VM.UpdateOneID(*t.VMID).SetStatus(vmSt).Exec(f.ctx))
}

func TestRetryBatchRequeuesOnlyFailedChildren(t *testing.T) {
	f := newFixture(t)
	b := f.submitBatch(3)
	if _, err := f.gov.RetryBatch(f.ctx, f.who(f.alice), b.ID); err == nil {
		t.Fatal("retry of a batch without failures")
	}
	must(f.gov.ApproveBatch(f.ctx, f.who(f.bob), b.ID, ApproveInput{}))
	kids := f.children(b)
	f.finish(kids[0], approvalticket.StatusSUCCESS)
	f.finish(kids[1], approvalticket.StatusFAILED)
	f.finish(kids[2], approvalticket.StatusSUCCESS)
	if s := f.batchStatus(b); s != BatchPartialSuccess {
		t.Fatalf("status %s", s)
	}
	// Someone who can neither approve nor requested it may not retry.
	dora := f.user("dora", "Operator", []string{"test"})
	if _, err := f.gov.RetryBatch(f.ctx, f.who(dora), b.ID); !errors.Is(err, ErrBatchNotFound) {
		t.Fatalf("outsider retry: %v", err)
	}
	n, err := f.gov.RetryBatch(f.ctx, f.who(f.alice), b.ID)
	if err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	kids = f.children(b)
	if kids[1].Status != approvalticket.StatusAPPROVED || kids[1].ErrorMessage != "" || kids[0].Status != approvalticket.StatusSUCCESS {
		t.Fatalf("after retry: %s %q / %s", kids[1].Status, kids[1].ErrorMessage, kids[0].Status)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, kids[1].EventID)); ev.Status != domainevent.StatusPROCESSING {
		t.Fatalf("event %s", ev.Status)
	}
	if v := must(f.store.Ent.VM.Get(f.ctx, *kids[1].VMID)); v.Status != vm.StatusCREATING {
		t.Fatalf("vm %s", v.Status)
	}
	if f.jobsFor(kids[1].EventID) != 2 || f.jobsFor(kids[0].EventID) != 1 || f.jobsFor(kids[2].EventID) != 1 {
		t.Fatal("retry queued jobs for children that had not failed")
	}
	if f.audits("vm.retry") != 1 || f.audits("vm.batch_retry") != 1 {
		t.Fatal("retry audit rows")
	}
	if s := f.batchStatus(b); s != BatchInProgress {
		t.Fatalf("status %s", s)
	}
	// Nothing failed any more: a second retry is refused and queues nothing.
	if _, err := f.gov.RetryBatch(f.ctx, f.who(f.bob), b.ID); err == nil || f.jobsFor(kids[1].EventID) != 2 {
		t.Fatalf("second retry: %v", err)
	}
	f.finish(kids[1], approvalticket.StatusSUCCESS)
	if s := f.batchStatus(b); s != BatchCompleted {
		t.Fatalf("status %s", s)
	}
}

func TestListsShowABatchAsOneRow(t *testing.T) {
	f := newFixture(t)
	b := f.submitBatch(3)
	other := must(f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.dedicated, 100)))
	rows, _, err := f.gov.Inbox(f.ctx, f.who(f.bob).Principal, InboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("inbox rows: %d, want the batch and the single request", len(rows))
	}
	var batchRows int
	for _, r := range rows {
		if r.BatchID != nil && *r.BatchID == b.ID {
			batchRows++
		} else if r.ID != other.ID {
			t.Fatalf("unexpected row %s", r.ID)
		}
	}
	if batchRows != 1 {
		t.Fatalf("batch rows: %d", batchRows)
	}
	mine, _, err := f.gov.MyRequests(f.ctx, f.alice.ID, RequestFilter{})
	if err != nil || len(mine) != 2 {
		t.Fatalf("my requests: %d, %v", len(mine), err)
	}
	sums, err := f.gov.BatchSummaries(f.ctx, mine)
	if err != nil || sums[b.ID].ChildCount != 3 || sums[b.ID].Counts.Pending != 3 || sums[b.ID].Status != BatchPendingApproval {
		t.Fatalf("summaries %+v, %v", sums, err)
	}
}
