package governance

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
)

func outcomes(res *BatchResult) map[uuid.UUID]BatchItem {
	m := map[uuid.UUID]BatchItem{}
	for _, i := range res.Items {
		m[i.ID] = i
	}
	return m
}

func refused(t *testing.T, err error) *BatchRefusedError {
	t.Helper()
	var re *BatchRefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want the batch refused, got %v", err)
	}
	return re
}

func (f *fixture) batchAudit(action string) *ent.AuditLog {
	f.t.Helper()
	rows := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).All(f.ctx))
	if len(rows) != 1 {
		f.t.Fatalf("%s: %d audit rows, want 1", action, len(rows))
	}
	return rows[0]
}

// victor may see shop's VMs (viewer member) but operate none of them.
func (f *fixture) victor() *ent.User {
	u := f.user("victor", "Viewer", []string{"test"})
	must(f.store.Ent.SystemMember.Create().SetSystemID(f.svc.SystemID).SetUserID(u.ID).SetRole(systemmember.RoleViewer).Save(f.ctx))
	return u
}

// submitFor has alice request a VM of a new service of shop (one pending request per
// service, namespace, template and size is allowed).
func (f *fixture) submitFor(name string) *ent.ApprovalTicket {
	f.t.Helper()
	svc := must(f.store.Ent.Service.Create().SetSystemID(f.svc.SystemID).SetName(name).Save(f.ctx))
	in := f.request(f.dev, f.size, 100)
	in.ServiceID = svc.ID
	t, err := f.gov.Submit(f.ctx, f.who(f.alice), in)
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

func TestBatchPowerDecidesEachVMOnItsOwn(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	run1, run2 := f.vm(f.dev, vm.StatusRUNNING), f.vm(f.dev, vm.StatusRUNNING)
	stopped := f.vm(f.dev, vm.StatusSTOPPED)
	deleting := f.vm(f.dev, vm.StatusDELETING)
	prod := f.vm(f.live, vm.StatusRUNNING)
	ghost := uuid.New()
	ids := []uuid.UUID{run1.ID, stopped.ID, prod.ID, deleting.ID, ghost, run2.ID, run1.ID} // run1 twice: once
	res, err := f.gov.BatchPower(f.ctx, dana, ids, "stop", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 6 {
		t.Fatalf("%d items, want 6 (duplicates dropped)", len(res.Items))
	}
	got := outcomes(res)
	for id, want := range map[uuid.UUID]string{run1.ID: OutcomeQueued, run2.ID: OutcomeQueued, stopped.ID: OutcomeUnchanged,
		prod.ID: OutcomeRefused, deleting.ID: OutcomeRefused, ghost: OutcomeRefused} {
		if got[id].Outcome != want {
			t.Errorf("%s: %+v, want %s", got[id].Name, got[id], want)
		}
	}
	if got[stopped.ID].Message != "Already stopped." || !strings.Contains(got[prod.ID].Message, "give a reason") ||
		!strings.Contains(got[deleting.ID].Message, "while it is DELETING") || got[ghost].Name != "" {
		t.Errorf("messages: %+v", res.Items)
	}
	if n := f.count("approval_tickets"); n != 2 {
		t.Fatalf("%d tickets, want the two stops", n)
	}
	// Each VM is audited as a single stop is, plus one row for the batch.
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("vm.stop_request")).Count(f.ctx)); n != 2 {
		t.Errorf("%d vm.stop_request rows", n)
	}
	row := f.batchAudit("vm.batch_stop")
	if row.ResourceID != res.ID.String() || row.Details["count"] != float64(6) || row.ActorName != "dana" {
		t.Errorf("batch audit: %+v", row)
	}

	// With a reason the prod VM becomes a request for an approver, the test ones run.
	res, err = f.gov.BatchPower(f.ctx, dana, []uuid.UUID{prod.ID, stopped.ID}, "start", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); got[prod.ID].Outcome != OutcomeUnchanged || got[stopped.ID].Outcome != OutcomeQueued {
		t.Errorf("start: %+v", res.Items)
	}
	res, err = f.gov.BatchPower(f.ctx, dana, []uuid.UUID{prod.ID}, "restart", "kernel update")
	if err != nil {
		t.Fatal(err)
	}
	tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, res.Items[0].TicketID))
	if res.Items[0].Outcome != OutcomeRequested || tk.Status != approvalticket.StatusPENDING_APPROVAL || tk.Reason != "kernel update" {
		t.Errorf("prod restart: %+v %+v", res.Items[0], tk)
	}
}

func TestBatchPowerChecksRightsPerVM(t *testing.T) {
	f := newFixture(t)
	victor := f.who(f.victor())
	alice := f.who(f.alice)
	mine := f.vm(f.dev, vm.StatusRUNNING)
	res, err := f.gov.BatchPower(f.ctx, victor, []uuid.UUID{mine.ID}, "stop", "")
	if err != nil {
		t.Fatal(err)
	}
	if it := res.Items[0]; it.Outcome != OutcomeRefused || it.Message != "You may not operate this VM." || it.Name != mine.Name {
		t.Errorf("viewer: %+v", it)
	}
	// alice (test only) does not see the prod VM at all: no name, no hint it exists.
	prod := f.vm(f.live, vm.StatusRUNNING)
	res, err = f.gov.BatchPower(f.ctx, alice, []uuid.UUID{prod.ID, mine.ID}, "stop", "")
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(res)
	if got[prod.ID].Outcome != OutcomeRefused || got[prod.ID].Name != "" || got[mine.ID].Outcome != OutcomeQueued {
		t.Errorf("alice: %+v", res.Items)
	}
}

func TestBatchLimitsRefuseTheWholeBatch(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	var ids []uuid.UUID
	for range MaxBatchPower + 1 {
		ids = append(ids, uuid.New())
	}
	ids[0] = f.vm(f.dev, vm.StatusRUNNING).ID
	re := refused(t, func() error { _, err := f.gov.BatchPower(f.ctx, dana, ids, "stop", ""); return err }())
	if !strings.Contains(re.Message, "at most 50") {
		t.Errorf("message: %s", re.Message)
	}
	refused(t, func() error { _, err := f.gov.BatchPower(f.ctx, dana, nil, "stop", ""); return err }())
	refused(t, func() error { _, err := f.gov.BatchPower(f.ctx, dana, ids[:1], "reboot", ""); return err }())
	_, err := f.gov.CheckBatchDelete(f.ctx, dana, ids[:MaxBatchDelete+1])
	if re := refused(t, err); !strings.Contains(re.Message, "at most 10") {
		t.Errorf("delete: %s", re.Message)
	}
	bob := f.who(f.bob)
	_, err = f.gov.BatchDecide(f.ctx, bob, ids[:MaxBatchApprove+1], true, "")
	if re := refused(t, err); !strings.Contains(re.Message, "at most 20") {
		t.Errorf("approve: %s", re.Message)
	}
	if f.count("approval_tickets")+f.count("river_job")+f.count("audit_logs") != 0 {
		t.Fatal("a refused batch wrote something")
	}
}

func TestBatchDeleteIsAllOrNothing(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	a, b, c := f.vm(f.dev, vm.StatusRUNNING), f.vm(f.dev, vm.StatusSTOPPED), f.vm(f.dev, vm.StatusFAILED)
	ids := []uuid.UUID{a.ID, b.ID, c.ID}

	// Confirmation and reason as for a single delete.
	_, err := f.gov.BatchDelete(f.ctx, dana, BatchDeleteInput{VMIDs: ids})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["confirm"] == "" || ve.Fields["reason"] == "" {
		t.Fatalf("unconfirmed: %v", err)
	}
	// Another request running on c (a restart approved in test) since it was selected:
	// nothing is written for a and b either.
	if _, err := f.gov.RequestPower(f.ctx, dana, c.ID, "start", ""); err != nil {
		t.Fatal(err)
	}
	before := f.count("approval_tickets")
	_, err = f.gov.BatchDelete(f.ctx, dana, BatchDeleteInput{VMIDs: ids, Reason: "team moved", Confirm: true})
	re := refused(t, err)
	if len(re.Items) != 1 || re.Items[0].Name != c.Name || !strings.Contains(re.Items[0].Message, "still running") {
		t.Fatalf("refusal: %+v", re)
	}
	if n := f.count("approval_tickets"); n != before {
		t.Fatalf("tickets %d -> %d: a refused delete batch wrote some", before, n)
	}

	// A VM whose state no longer allows deletion is named before anything is written.
	must(0, f.store.Ent.VM.UpdateOneID(c.ID).SetStatus(vm.StatusDELETING).Exec(f.ctx))
	_, err = f.gov.CheckBatchDelete(f.ctx, dana, ids)
	if re := refused(t, err); len(re.Items) != 1 || re.Items[0].ID != c.ID {
		t.Fatalf("state changed: %+v", re)
	}

	res, err := f.gov.BatchDelete(f.ctx, dana, BatchDeleteInput{VMIDs: ids[:2], Reason: "team moved", Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, it.TicketID))
		if it.Outcome != OutcomeRequested || tk.Type != approvalticket.TypeVM_DELETE || tk.Status != approvalticket.StatusPENDING_APPROVAL {
			t.Errorf("%s: %+v %+v", it.Name, it, tk)
		}
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("vm.delete_request")).Count(f.ctx)); n != 2 {
		t.Errorf("%d vm.delete_request rows", n)
	}
	f.batchAudit("vm.batch_delete")
}

func TestBatchDeleteProdNeedsEveryNameAndOneEnvironment(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	p1, p2 := f.vm(f.live, vm.StatusRUNNING), f.vm(f.live, vm.StatusSTOPPED)
	test := f.vm(f.dev, vm.StatusRUNNING)
	_, err := f.gov.CheckBatchDelete(f.ctx, dana, []uuid.UUID{p1.ID, test.ID})
	if re := refused(t, err); !strings.Contains(re.Message, "separate batches") {
		t.Fatalf("mixed: %v", re.Message)
	}
	in := BatchDeleteInput{VMIDs: []uuid.UUID{p1.ID, p2.ID}, Reason: "decommissioned", Confirm: true,
		Names: map[uuid.UUID]string{p1.ID: p1.Name, p2.ID: "wrong"}}
	_, err = f.gov.BatchDelete(f.ctx, dana, in)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || !strings.Contains(ve.Fields["confirm_name_"+p2.ID.String()], "does not match") {
		t.Fatalf("names: %v", err)
	}
	in.Names[p2.ID] = p2.Name
	res, err := f.gov.BatchDelete(f.ctx, dana, in)
	if err != nil || len(res.Items) != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	// A viewer is refused per VM, and nothing is written.
	victor := f.who(f.victor())
	_, err = f.gov.CheckBatchDelete(f.ctx, victor, []uuid.UUID{test.ID})
	if re := refused(t, err); re.Items[0].Message != "You may not delete this VM." {
		t.Fatalf("viewer: %+v", re.Items)
	}
}

func TestBatchDecideEachTicketOnItsOwn(t *testing.T) {
	f := newFixture(t)
	bob := f.who(f.bob)
	dana := f.who(f.dana())
	c1, c2, c3 := f.submit(), f.submitFor("api"), f.submitFor("db")
	stop := f.vm(f.live, vm.StatusRUNNING)
	op, err := f.gov.RequestPower(f.ctx, dana, stop.ID, "stop", "maintenance")
	if err != nil {
		t.Fatal(err)
	}
	prodCreate, err := f.gov.Submit(f.ctx, dana, f.request(f.live, f.size, 100))
	if err != nil {
		t.Fatal(err)
	}
	// No prod cluster can take the VM any more: approving it needs the approver's choice.
	must(0, f.store.Ent.Cluster.Update().Where(cluster.ID(f.prodClus.ID)).SetStatus(cluster.StatusUNHEALTHY).Exec(f.ctx))
	// c3 was decided meanwhile by carl.
	if err := f.gov.Reject(f.ctx, f.who(f.carl), c3.ID, "duplicate"); err != nil {
		t.Fatal(err)
	}
	ids := []uuid.UUID{c1.ID, c2.ID, c3.ID, op.ID, prodCreate.ID}
	res, err := f.gov.BatchDecide(f.ctx, bob, ids, true, "")
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(res)
	for id, want := range map[uuid.UUID]string{c1.ID: OutcomeApproved, c2.ID: OutcomeApproved, c3.ID: OutcomeUnchanged,
		op.ID: OutcomeApproved, prodCreate.ID: OutcomeChoice} {
		if got[id].Outcome != want {
			t.Errorf("%s %s: %+v, want %s", got[id].Type, got[id].Name, got[id], want)
		}
	}
	if !strings.Contains(got[c3.ID].Message, "rejected by carl") || !strings.Contains(got[prodCreate.ID].Message, "No healthy prod cluster") {
		t.Errorf("messages: %+v", res.Items)
	}
	for _, id := range []uuid.UUID{c1.ID, c2.ID} {
		tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, id))
		if tk.Status != approvalticket.StatusAPPROVED || tk.SelectedClusterID == nil || *tk.SelectedClusterID != f.testCluster.ID ||
			tk.SelectedStorageClass != "standard" || tk.ApproverName != "bob" {
			t.Errorf("approved with defaults: %+v", tk)
		}
	}
	if tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, prodCreate.ID)); tk.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Errorf("a ticket needing a choice was decided: %s", tk.Status)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.approve"), auditlog.ActorName("bob")).Count(f.ctx)); n != 3 {
		t.Errorf("%d approval.approve rows by bob, want 3", n)
	}
	f.batchAudit("approval.batch_approve")
}

func TestBatchDecideChecksTheApproverPerTicket(t *testing.T) {
	f := newFixture(t)
	// tess approves in test only; amy is an approver who also requests VMs.
	tess := f.user("tess", "Approver", []string{"test"})
	amy := f.user("amy", "Approver", []string{"test", "prod"})
	operator := must(f.store.Ent.Role.Query().Where(role.Name("Operator")).Only(f.ctx))
	must(f.store.Ent.RoleBinding.Create().SetUserID(amy.ID).SetRoleID(operator.ID).SetAllowedEnvironments([]string{"test"}).
		SetSource(rolebinding.SourceManual).Save(f.ctx))
	must(f.store.Ent.SystemMember.Create().SetSystemID(f.svc.SystemID).SetUserID(amy.ID).SetRole(systemmember.RoleMember).Save(f.ctx))
	dana := f.who(f.dana())
	testTicket := f.submit()
	prodTicket, err := f.gov.Submit(f.ctx, dana, f.request(f.live, f.size, 100))
	if err != nil {
		t.Fatal(err)
	}
	amysOwn, err := f.gov.Submit(f.ctx, f.who(amy), f.request(f.dev, f.size, 100))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.gov.BatchDecide(f.ctx, f.who(tess), []uuid.UUID{prodTicket.ID, testTicket.ID}, true, "")
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(res)
	if got[prodTicket.ID].Outcome != OutcomeRefused || got[prodTicket.ID].Name != "" || got[testTicket.ID].Outcome != OutcomeApproved {
		t.Errorf("tess: %+v", res.Items)
	}
	// Rejection needs one reason for all; amy's own request is left to another approver.
	_, err = f.gov.BatchDecide(f.ctx, f.who(amy), []uuid.UUID{amysOwn.ID, prodTicket.ID}, false, " ")
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["reason"] == "" {
		t.Fatalf("no reason: %v", err)
	}
	res, err = f.gov.BatchDecide(f.ctx, f.who(amy), []uuid.UUID{amysOwn.ID, prodTicket.ID}, false, "capacity freeze")
	if err != nil {
		t.Fatal(err)
	}
	got = outcomes(res)
	if got[amysOwn.ID].Outcome != OutcomeRefused || !strings.Contains(got[amysOwn.ID].Message, "Your own request") ||
		got[prodTicket.ID].Outcome != OutcomeRejected {
		t.Errorf("amy: %+v", res.Items)
	}
	if tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, prodTicket.ID)); tk.DecisionReason != "capacity freeze" || tk.ApproverName != "amy" {
		t.Errorf("rejected: %+v", tk)
	}
	if tk := must(f.store.Ent.ApprovalTicket.Get(f.ctx, amysOwn.ID)); tk.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Errorf("own request decided: %s", tk.Status)
	}
	f.batchAudit("approval.batch_reject")
}
