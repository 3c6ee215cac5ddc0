package provisioning

import (
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

func TestPowerOperations(t *testing.T) {
	f := newFixture(t)
	v := f.running()
	ref := kube.VMRef{Namespace: v.NamespaceName, Name: v.Name}
	steps := []struct {
		typ   approvalticket.Type
		want  vm.Status
		phase kube.Phase
	}{
		{approvalticket.TypeVM_STOP, vm.StatusSTOPPED, kube.PhaseStopped},
		{approvalticket.TypeVM_START, vm.StatusRUNNING, kube.PhaseRunning},
		{approvalticket.TypeVM_RESTART, vm.StatusRUNNING, kube.PhaseRunning},
	}
	for _, s := range steps {
		ev := f.operation(v, s.typ, nil)
		if err := f.drive(f.exec.Power, ev, Attempt{N: 1, Max: 5}); err != nil {
			t.Fatalf("%s: %v", s.typ, err)
		}
		if got := f.vm(v.ID); got.Status != s.want {
			t.Fatalf("%s: vm %s", s.typ, got.Status)
		}
		if st, _ := f.sim.GetVM(f.ctx, ref); st.Phase != s.phase {
			t.Fatalf("%s: cluster says %s", s.typ, st.Phase)
		}
		if tk := f.ticketOf(ev); tk.Status != approvalticket.StatusSUCCESS {
			t.Fatalf("%s: ticket %s", s.typ, tk.Status)
		}
	}
	for _, action := range []string{"vm.stop", "vm.start", "vm.restart"} {
		if f.count("SELECT count(*) FROM audit_logs WHERE action = $1", action) != 1 {
			t.Errorf("no %s audit row", action)
		}
	}
	// alice watched her auto-approved operations live: nothing for her; olga, who owns
	// the System, hears of each one someone else made.
	done := func(who *ent.User) int {
		return f.count("SELECT count(*) FROM notifications WHERE type = 'VM_OPERATION_DONE' AND recipient_id = $1", who.ID)
	}
	if a, o := done(f.Alice), done(f.Olga); a != 0 || o != 3 {
		t.Errorf("auto-approved ops notified alice %d, olga %d times; want 0 and 3", a, o)
	}
	body := f.count("SELECT count(*) FROM notifications WHERE recipient_id = $1 AND body LIKE 'alice stopped % it is now stopped.'", f.Olga.ID)
	if body != 1 {
		t.Error("olga's notification does not say who stopped the VM")
	}
	ev := f.operation(v, approvalticket.TypeVM_STOP, f.Bob)
	if err := f.drive(f.exec.Power, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if a, o := done(f.Alice), done(f.Olga); a != 1 || o != 4 {
		t.Errorf("approved op: alice told %d, olga %d times; want 1 and 4", a, o)
	}
}

// A VM deleted on the cluster behind Shepherd's back: starting it fails with a clear
// message and the row records that the object is gone.
func TestPowerOnVMDeletedBehindOurBack(t *testing.T) {
	f := newFixture(t)
	v := f.running()
	if err := f.sim.DeleteVM(f.ctx, kube.VMRef{Namespace: v.NamespaceName, Name: v.Name}); err != nil {
		t.Fatal(err)
	}
	ev := f.operation(v, approvalticket.TypeVM_RESTART, nil)
	err := f.drive(f.exec.Power, ev, Attempt{N: 1, Max: 5})
	if !IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
	got := f.vm(v.ID)
	if got.K8sExists || got.Status != vm.StatusUNKNOWN || !strings.Contains(got.StatusMessage, "restart failed") {
		t.Fatalf("vm %s exists %v message %q", got.Status, got.K8sExists, got.StatusMessage)
	}
	if tk := f.ticketOf(ev); tk.Status != approvalticket.StatusFAILED || !strings.Contains(tk.ErrorMessage, kube.CodeVMNotFound) {
		t.Fatalf("ticket %s %q", tk.Status, tk.ErrorMessage)
	}
	if f.count("SELECT count(*) FROM notifications WHERE type = 'VM_OPERATION_FAILED' AND recipient_id = $1", f.Alice.ID) != 1 {
		t.Error("requester not told")
	}
}

func TestDeleteTombstonesTheVM(t *testing.T) {
	f := newFixture(t)
	v := f.running()
	if _, err := f.store.SQL.ExecContext(f.ctx, "UPDATE vms SET status = 'DELETING' WHERE id = $1", v.ID); err != nil {
		t.Fatal(err)
	}
	// A viewer of the System is told too.
	mia := f.store.Ent.User.Create().SetUsername("mia").SaveX(f.ctx)
	f.store.Ent.SystemMember.Create().SetSystemID(f.System.ID).SetUserID(mia.ID).SetRole(systemmember.RoleViewer).ExecX(f.ctx)
	ev := f.operation(v, approvalticket.TypeVM_DELETE, f.Bob)
	f.sim.FailNext(sim.OpDeleteVM, kube.NewRetryable(kube.CodeConflict, "object was modified"))
	if err := f.drive(f.exec.Delete, ev, Attempt{N: 1, Max: 5}); err == nil || IsPermanent(err) {
		t.Fatalf("conflict should be retried: %v", err)
	}
	if err := f.drive(f.exec.Delete, ev, Attempt{N: 2, Max: 5}); err != nil {
		t.Fatal(err)
	}
	got := f.vm(v.ID)
	if got.Status != vm.StatusDELETED || got.DeletedAt == nil || got.K8sExists {
		t.Fatalf("vm %s deleted_at %v exists %v", got.Status, got.DeletedAt, got.K8sExists)
	}
	if all, _ := f.sim.ListVMs(f.ctx, ""); len(all) != 0 {
		t.Fatalf("cluster still has %d VMs", len(all))
	}
	if f.count("SELECT count(*) FROM audit_logs WHERE action = 'vm.delete'") != 1 ||
		f.count("SELECT count(*) FROM notifications WHERE type = 'VM_DELETED'") != 3 ||
		f.count("SELECT count(*) FROM notifications WHERE type = 'VM_DELETED' AND recipient_id = $1", mia.ID) != 1 {
		t.Error("missing audit or notifications")
	}
}

// Deleting a VM that is already gone from the cluster completes instead of failing.
func TestDeleteOfVMMissingOnCluster(t *testing.T) {
	f := newFixture(t)
	v := f.running()
	if err := f.sim.DeleteVM(f.ctx, kube.VMRef{Namespace: v.NamespaceName, Name: v.Name}); err != nil {
		t.Fatal(err)
	}
	ev := f.operation(v, approvalticket.TypeVM_DELETE, f.Bob)
	if err := f.drive(f.exec.Delete, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusDELETED {
		t.Fatalf("vm %s", got.Status)
	}
}
