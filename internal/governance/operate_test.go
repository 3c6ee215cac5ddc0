package governance

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
)

// dana is a SystemAdmin in test and prod and the owner of shop: she may operate and
// delete its VMs everywhere.
func (f *fixture) dana() *ent.User {
	u := f.user("dana", "SystemAdmin", []string{"test", "prod"})
	must(f.store.Ent.SystemMember.Create().SetSystemID(f.svc.SystemID).SetUserID(u.ID).SetRole(systemmember.RoleOwner).Save(f.ctx))
	return u
}

// vm writes a VM row of shop/web in ns with the given status, as if it had been created.
func (f *fixture) vm(ns *ent.Namespace, status vm.Status) *ent.VM {
	f.t.Helper()
	cl := f.testCluster
	if ns.Environment == "prod" {
		cl = f.prodClus
	}
	idx := f.count("vms") + 1
	uid := uuid.NewString() // every VM past CREATING was applied to its cluster
	if status == vm.StatusCREATING {
		uid = ""
	}
	return must(f.store.Ent.VM.Create().SetName(ns.Name + "-shop-web-" + string(rune('a'+idx))).SetServiceID(f.svc.ID).SetSystemID(f.svc.SystemID).
		SetNamespaceID(ns.ID).SetNamespaceName(ns.Name).SetEnvironment(vm.Environment(ns.Environment)).SetClusterID(cl.ID).
		SetInstanceIndex(idx).SetInstanceSizeID(f.size.ID).SetTemplateID(f.tpl.ID).SetTicketID(uuid.New()).
		SetStatus(status).SetK8sUID(uid).SetCreatedBy(f.alice.ID).Save(f.ctx))
}

// jobs counts River jobs of kind in queue for an event.
func (f *fixture) jobs(kind, queue string, eventID uuid.UUID) int {
	var n int
	err := f.store.SQL.QueryRowContext(f.ctx, "SELECT count(*) FROM river_job WHERE kind = $1 AND queue = $2 AND args->>'event_id' = $3",
		kind, queue, eventID.String()).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return domain.CodeInvalidInput
	}
	return ""
}

func TestPowerOperationsRefuseWrongSourceStates(t *testing.T) {
	f := newFixture(t)
	alice := f.who(f.alice)
	allowed := map[string][]vm.Status{"start": {vm.StatusSTOPPED, vm.StatusFAILED}, "stop": {vm.StatusRUNNING, vm.StatusSTARTING}, "restart": {vm.StatusRUNNING}}
	for _, st := range []vm.Status{vm.StatusCREATING, vm.StatusSTARTING, vm.StatusRUNNING, vm.StatusSTOPPING, vm.StatusSTOPPED,
		vm.StatusRESTARTING, vm.StatusDELETING, vm.StatusDELETED, vm.StatusFAILED, vm.StatusUNKNOWN} {
		v := f.vm(f.dev, st)
		for op, from := range allowed {
			ok := false
			for _, s := range from {
				ok = ok || s == st
			}
			if ok {
				continue
			}
			_, err := f.gov.RequestPower(f.ctx, alice, v.ID, op, "")
			if code(err) != domain.CodeVMStateConflict {
				t.Fatalf("%s from %s: %v", op, st, err)
			}
		}
	}
	if f.count("approval_tickets")+f.count("domain_events")+f.count("river_job") != 0 {
		t.Fatal("a refused operation wrote something")
	}
	var de *domain.Error
	_, err := f.gov.RequestPower(f.ctx, alice, f.vm(f.dev, vm.StatusDELETING).ID, "start", "")
	if !errors.As(err, &de) || !strings.Contains(de.Message, "while it is DELETING") {
		t.Fatalf("message: %v", err)
	}
	if _, err := f.gov.RequestPower(f.ctx, alice, f.vm(f.dev, vm.StatusRUNNING).ID, "reboot", ""); code(err) != domain.CodeInvalidInput {
		t.Fatalf("unknown op: %v", err)
	}
}

func TestTestPowerIsAutoApprovedWithItsJobInOneTransaction(t *testing.T) {
	f := newFixture(t)
	alice := f.who(f.alice)
	v := f.vm(f.dev, vm.StatusRUNNING)
	tk, err := f.gov.RequestPower(f.ctx, alice, v.ID, "stop", "")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Type != approvalticket.TypeVM_STOP || tk.Status != approvalticket.StatusAPPROVED || tk.ApproverName != AutoApprover ||
		tk.DecidedAt == nil || tk.VMID == nil || *tk.VMID != v.ID || tk.TargetName != v.Name || tk.NamespaceName != "dev" || tk.SystemID != f.svc.SystemID {
		t.Fatalf("ticket: %+v", tk)
	}
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if ev.Status != domainevent.StatusPROCESSING || ev.EventType != domain.EventVMStopRequested || ev.AggregateID != v.ID.String() ||
		ev.Payload["op"] != "stop" || ev.Payload["vm_name"] != v.Name || ev.Payload["vm_id"] != v.ID.String() {
		t.Fatalf("event: %+v", ev)
	}
	if n := f.jobs("vm_power", "power", ev.ID); n != 1 {
		t.Fatalf("vm_power jobs: %d", n)
	}
	a := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("vm.stop_request")).Only(f.ctx))
	if a.Details["auto_approved"] != true || a.ResourceID != v.ID.String() {
		t.Fatalf("audit: %+v", a)
	}
	if n := f.count("notifications"); n != 0 {
		t.Fatalf("nobody needs to approve a test operation: %d notifications", n)
	}
	// The stop is in flight: nothing else may start until it finishes.
	if _, err := f.gov.RequestPower(f.ctx, alice, v.ID, "restart", ""); code(err) != domain.CodeOperationInProgress {
		t.Fatalf("second operation while one runs: %v", err)
	}

	// A failure after the job insert rolls back the event, the ticket, the job and the audit.
	w := f.vm(f.dev, vm.StatusSTOPPED)
	tickets, events, jobs, audits := f.count("approval_tickets"), f.count("domain_events"), f.count("river_job"), f.count("audit_logs")
	f.gov.afterJobInsert = func() error { return errors.New("injected") }
	if _, err := f.gov.RequestPower(f.ctx, alice, w.ID, "start", ""); err == nil {
		t.Fatal("start succeeded despite the injected failure")
	}
	if f.count("approval_tickets") != tickets || f.count("domain_events") != events || f.count("river_job") != jobs || f.count("audit_logs") != audits {
		t.Fatal("a rolled-back start left rows behind")
	}
	f.gov.afterJobInsert = nil
	if _, err := f.gov.RequestPower(f.ctx, alice, w.ID, "start", ""); err != nil {
		t.Fatalf("start after the failure: %v", err)
	}
}

func TestPowerRightsFollowMembershipAndEnvironment(t *testing.T) {
	f := newFixture(t)
	v := f.vm(f.dev, vm.StatusRUNNING)
	// bob may approve but is no member of shop: the VM does not exist for him.
	if _, err := f.gov.RequestPower(f.ctx, f.who(f.bob), v.ID, "stop", ""); !errors.Is(err, ErrVMNotFound) {
		t.Fatalf("outsider: %v", err)
	}
	// alice only holds test bindings: a prod VM of her System is invisible.
	p := f.vm(f.live, vm.StatusRUNNING)
	if _, err := f.gov.RequestPower(f.ctx, f.who(f.alice), p.ID, "stop", "x"); !errors.Is(err, ErrVMNotFound) {
		t.Fatalf("prod VM for a test-only operator: %v", err)
	}
	// Viewers of the System may look but not operate.
	must(f.store.Ent.SystemMember.Update().Where(systemmember.UserID(f.alice.ID)).SetRole(systemmember.RoleViewer).Save(f.ctx))
	if _, err := f.gov.RequestPower(f.ctx, f.who(f.alice), v.ID, "stop", ""); code(err) != domain.CodeForbidden {
		t.Fatalf("viewer: %v", err)
	}
	if _, err := f.gov.RequestPower(f.ctx, f.who(f.alice), uuid.New(), "stop", ""); !errors.Is(err, ErrVMNotFound) {
		t.Fatalf("unknown VM: %v", err)
	}
}

func TestProdPowerGoesThroughApproval(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	v := f.vm(f.live, vm.StatusRUNNING)
	if _, err := f.gov.RequestPower(f.ctx, dana, v.ID, "stop", " "); code(err) != domain.CodeInvalidInput {
		t.Fatalf("prod stop without a reason: %v", err)
	}
	tk, err := f.gov.RequestPower(f.ctx, dana, v.ID, "stop", "maintenance window")
	if err != nil {
		t.Fatal(err)
	}
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if tk.Status != approvalticket.StatusPENDING_APPROVAL || tk.ApproverName != "" || ev.Status != domainevent.StatusPENDING || f.jobs("vm_power", "power", ev.ID) != 0 {
		t.Fatalf("prod stop: ticket %s event %s", tk.Status, ev.Status)
	}
	// bob, carl and the bootstrap admin are asked; dana is not.
	notes := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).All(f.ctx))
	if len(notes) != 3 || notes[0].Link != "/approvals/"+tk.ID.String() {
		t.Fatalf("approver notifications: %d", len(notes))
	}
	if _, err := f.gov.RequestPower(f.ctx, dana, v.ID, "stop", "again"); code(err) != domain.CodeDuplicatePending {
		t.Fatalf("duplicate: %v", err)
	}
	// A pending restart may wait next to the pending stop; one of them will lose at approval.
	rs, err := f.gov.RequestPower(f.ctx, dana, v.ID, "restart", "kernel update")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gov.ApproveOperation(f.ctx, dana, tk.ID, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the requester (no approver) approving: %v", err)
	}
	if err := f.gov.ApproveOperation(f.ctx, Requester{User: dana.User, Principal: f.who(f.bob).Principal}, tk.ID, ""); code(err) != domain.CodeSelfApproval {
		t.Fatalf("self approval: %v", err)
	}
	if err := f.gov.ApproveOperation(f.ctx, f.who(f.bob), tk.ID, "go ahead"); err != nil {
		t.Fatal(err)
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	ev = must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if tk.Status != approvalticket.StatusAPPROVED || tk.ApproverName != "bob" || tk.DecisionReason != "go ahead" ||
		ev.Status != domainevent.StatusPROCESSING || f.jobs("vm_power", "power", ev.ID) != 1 {
		t.Fatalf("after approval: ticket %s event %s", tk.Status, ev.Status)
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_APPROVED), notification.RecipientID(dana.User.ID)).Count(f.ctx)); n != 1 {
		t.Fatalf("requester notifications: %d", n)
	}
	// The stop is in flight, so the restart cannot be approved now (and stays pending).
	if err := f.gov.ApproveOperation(f.ctx, f.who(f.carl), rs.ID, ""); code(err) != domain.CodeOperationInProgress {
		t.Fatalf("approval while another operation runs: %v", err)
	}
	// Once the stop is done the VM is STOPPED: the restart's source state is gone.
	must(f.store.Ent.ApprovalTicket.UpdateOneID(tk.ID).SetStatus(approvalticket.StatusSUCCESS).Save(f.ctx))
	must(f.store.Ent.VM.UpdateOneID(v.ID).SetStatus(vm.StatusSTOPPED).Save(f.ctx))
	if err := f.gov.ApproveOperation(f.ctx, f.who(f.carl), rs.ID, ""); code(err) != domain.CodeVMStateConflict {
		t.Fatalf("restart of a stopped VM: %v", err)
	}
	if rs = must(f.store.Ent.ApprovalTicket.Get(f.ctx, rs.ID)); rs.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatalf("refused approval changed the ticket: %s", rs.Status)
	}
	// Reject works for operation tickets as for create requests.
	if err := f.gov.Reject(f.ctx, f.who(f.carl), rs.ID, "the VM is stopped already"); err != nil {
		t.Fatal(err)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, rs.EventID)); ev.Status != domainevent.StatusCANCELLED {
		t.Fatalf("rejected event: %s", ev.Status)
	}
	// And the requester can cancel her own pending operation.
	st, err := f.gov.RequestPower(f.ctx, dana, v.ID, "start", "back online")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gov.Cancel(f.ctx, dana, st.ID, ""); err != nil {
		t.Fatal(err)
	}
}

func TestIndexesBackTheOperationGuards(t *testing.T) {
	f := newFixture(t)
	v := f.vm(f.live, vm.StatusRUNNING)
	ev := must(f.store.Ent.DomainEvent.Create().SetEventType("X").SetAggregateType("vm").SetPayload(map[string]any{}).SetRequestedBy(f.alice.ID).Save(f.ctx))
	ticket := func(st approvalticket.Status) error {
		_, err := f.store.Ent.ApprovalTicket.Create().SetType(approvalticket.TypeVM_STOP).SetStatus(st).SetEventID(ev.ID).
			SetRequesterID(f.alice.ID).SetReason("").SetSystemID(v.SystemID).SetServiceID(v.ServiceID).SetNamespaceID(v.NamespaceID).
			SetNamespaceName(v.NamespaceName).SetEnvironment("prod").SetVMID(v.ID).Save(f.ctx)
		return indexConflict(err, v, OpStop)
	}
	if err := ticket(approvalticket.StatusPENDING_APPROVAL); err != nil {
		t.Fatal(err)
	}
	if err := ticket(approvalticket.StatusPENDING_APPROVAL); code(err) != domain.CodeDuplicatePending {
		t.Fatalf("second pending stop: %v", err)
	}
	if err := ticket(approvalticket.StatusEXECUTING); err != nil {
		t.Fatal(err)
	}
	if err := ticket(approvalticket.StatusAPPROVED); code(err) != domain.CodeOperationInProgress {
		t.Fatalf("second operation in flight: %v", err)
	}
}

func TestDeleteNeedsConfirmationAndApproval(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	v := f.vm(f.dev, vm.StatusRUNNING)
	if _, err := f.gov.RequestDelete(f.ctx, f.who(f.alice), v.ID, "gone", true, ""); code(err) != domain.CodeForbidden {
		t.Fatalf("a member deleting: %v", err)
	}
	if _, err := f.gov.RequestDelete(f.ctx, f.who(f.bob), v.ID, "gone", true, ""); !errors.Is(err, ErrVMNotFound) {
		t.Fatalf("an outsider deleting: %v", err)
	}
	var de *domain.Error
	if _, err := f.gov.RequestDelete(f.ctx, dana, v.ID, "gone", false, ""); !errors.As(err, &de) || de.Code != domain.CodeConfirmationRequired || de.Field != "confirm" {
		t.Fatalf("test delete without the box: %v", err)
	}
	if _, err := f.gov.RequestDelete(f.ctx, dana, v.ID, "", true, ""); code(err) != domain.CodeInvalidInput {
		t.Fatalf("delete without a reason: %v", err)
	}
	for _, st := range []vm.Status{vm.StatusCREATING, vm.StatusDELETING, vm.StatusDELETED} {
		if _, err := f.gov.RequestDelete(f.ctx, dana, f.vm(f.dev, st).ID, "gone", true, ""); code(err) != domain.CodeVMStateConflict {
			t.Fatalf("delete from %s: %v", st, err)
		}
	}
	tk, err := f.gov.RequestDelete(f.ctx, dana, v.ID, "not needed any more", true, "")
	if err != nil {
		t.Fatal(err)
	}
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if tk.Type != approvalticket.TypeVM_DELETE || tk.Status != approvalticket.StatusPENDING_APPROVAL || ev.Status != domainevent.StatusPENDING ||
		ev.EventType != domain.EventVMDeleteRequested || f.count("river_job") != 0 {
		t.Fatalf("test delete must wait for approval: %s %s", tk.Status, ev.Status)
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("vm.delete_request")).Count(f.ctx)); n != 1 {
		t.Fatalf("audit: %d", n)
	}
	if _, err := f.gov.RequestDelete(f.ctx, dana, v.ID, "twice", true, ""); code(err) != domain.CodeDuplicatePending {
		t.Fatalf("second delete request: %v", err)
	}

	p := f.vm(f.live, vm.StatusRUNNING)
	if _, err := f.gov.RequestDelete(f.ctx, dana, p.ID, "gone", true, ""); !errors.As(err, &de) || de.Code != domain.CodeConfirmationRequired || de.Field != "confirm_name" {
		t.Fatalf("prod delete without the name: %v", err)
	}
	if _, err := f.gov.RequestDelete(f.ctx, dana, p.ID, "gone", true, p.Name+"x"); !errors.As(err, &de) || de.Code != domain.CodeConfirmationMismatch || de.Field != "confirm_name" {
		t.Fatalf("prod delete with a wrong name: %v", err)
	}
	stop, err := f.gov.RequestPower(f.ctx, dana, p.ID, "stop", "first stop it")
	if err != nil {
		t.Fatal(err)
	}
	del, err := f.gov.RequestDelete(f.ctx, dana, p.ID, "decommissioned", false, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gov.ApproveOperation(f.ctx, f.who(f.bob), del.ID, ""); err != nil {
		t.Fatal(err)
	}
	del = must(f.store.Ent.ApprovalTicket.Get(f.ctx, del.ID))
	if p = must(f.store.Ent.VM.Get(f.ctx, p.ID)); p.Status != vm.StatusDELETING || del.Status != approvalticket.StatusAPPROVED ||
		f.jobs("vm_delete", "provisioning", del.EventID) != 1 {
		t.Fatalf("after delete approval: vm %s ticket %s", p.Status, del.Status)
	}
	// The pending stop can never run now: it was cancelled with the approval.
	if stop = must(f.store.Ent.ApprovalTicket.Get(f.ctx, stop.ID)); stop.Status != approvalticket.StatusCANCELLED {
		t.Fatalf("moot stop: %s", stop.Status)
	}
	if _, err := f.gov.RequestPower(f.ctx, dana, p.ID, "stop", "x"); code(err) != domain.CodeVMStateConflict {
		t.Fatalf("stop of a deleting VM: %v", err)
	}
}

func TestProgressMergesPlannedAndRecordedSteps(t *testing.T) {
	f := newFixture(t)
	tk, err := f.gov.RequestPower(f.ctx, f.who(f.alice), f.vm(f.dev, vm.StatusRUNNING).ID, "restart", "")
	if err != nil {
		t.Fatal(err)
	}
	steps := Progress(tk)
	if len(steps) != 3 || steps[0].State != ProgressRunning || steps[1].State != ProgressPending || steps[2].Name != domain.StepRunning {
		t.Fatalf("queued restart: %+v", steps)
	}
	tk.Status, tk.ErrorMessage = approvalticket.StatusFAILED, "NAMESPACE_PERMISSION_DENIED: forbidden"
	steps = Progress(tk)
	if steps[0].State != ProgressFailed || steps[0].Message != tk.ErrorMessage {
		t.Fatalf("failed without a recorded step: %+v", steps)
	}
	if !InFlight(&ent.ApprovalTicket{Status: approvalticket.StatusEXECUTING}) || InFlight(&ent.ApprovalTicket{Status: approvalticket.StatusSUCCESS}) {
		t.Fatal("InFlight")
	}
	latest, pending, err := f.gov.VMOperations(f.ctx, must(f.store.Ent.VM.Get(f.ctx, *tk.VMID)))
	if err != nil || latest == nil || latest.ID != tk.ID || len(pending) != 0 {
		t.Fatalf("VMOperations: %v %v %v", latest, pending, err)
	}
	busy, err := f.gov.InFlightVMs(f.ctx, []uuid.UUID{*tk.VMID, uuid.New()})
	if err != nil || len(busy) != 1 || !busy[*tk.VMID] {
		t.Fatalf("InFlightVMs: %v %v", busy, err)
	}
}

// A VM whose create failed before the apply, or that vanished from its cluster, has
// nothing to power: start is refused with the reason, deletion stays possible.
func TestPowerNeedsTheVMOnItsCluster(t *testing.T) {
	f := newFixture(t)
	never := f.vm(f.dev, vm.StatusFAILED)
	must(f.store.Ent.VM.UpdateOne(never).SetK8sUID("").Save(f.ctx))
	ghost := f.vm(f.dev, vm.StatusSTOPPED)
	must(f.store.Ent.VM.UpdateOne(ghost).SetK8sExists(false).Save(f.ctx))
	for v, want := range map[*ent.VM]string{never: "its creation failed before it was applied", ghost: "it is missing there"} {
		_, err := f.gov.RequestPower(f.ctx, f.who(f.alice), v.ID, "start", "")
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeVMStateConflict || !strings.Contains(de.Message, want) {
			t.Fatalf("start of %s: %v", v.Name, err)
		}
		if OpStart.Allows(must(f.store.Ent.VM.Get(f.ctx, v.ID))) {
			t.Errorf("the page would offer Start for %s", v.Name)
		}
	}
	if f.count("approval_tickets") != 0 {
		t.Fatal("a refused request wrote a ticket")
	}
	if !OpDelete.Allows(must(f.store.Ent.VM.Get(f.ctx, never.ID))) {
		t.Fatal("a failed VM must stay deletable")
	}
}
