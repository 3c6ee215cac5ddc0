package statussync_test

import (
	"fmt"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/statussync"
)

func status(name string, phase kube.Phase) kube.VMStatus {
	return kube.VMStatus{Ref: kube.VMRef{Namespace: ns, Name: name}, UID: "uid-" + name, Phase: phase, Exists: true}
}

func TestApplyWritesOnlyChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := f.row("a", vm.StatusRUNNING, "uid-a", time.Hour)
	b := f.row("b", vm.StatusRUNNING, "uid-b", time.Hour)
	list := []kube.VMStatus{status("a", kube.PhaseRunning), status("b", kube.PhaseStopped), status("unknown-to-db", kube.PhaseRunning)}
	list[0].IP, list[0].Node = "10.0.0.2", "n1"

	n, err := statussync.Apply(ctx, f.store.SQL, f.cluster.ID, list)
	if err != nil || n != 2 {
		t.Fatalf("first apply: %d %v", n, err)
	}
	if n, err = statussync.Apply(ctx, f.store.SQL, f.cluster.ID, list); err != nil || n != 0 {
		t.Fatalf("the same list again must write nothing: %d %v", n, err)
	}
	if r := f.get(a.ID); r.IP != "10.0.0.2" || r.Node != "n1" || r.Status != vm.StatusRUNNING {
		t.Fatalf("a: %+v", r)
	}
	if r := f.get(b.ID); r.Status != vm.StatusSTOPPED {
		t.Fatalf("b: %s", r.Status)
	}

	// A worker's note on an unchanged VM survives a quiet observation...
	f.store.Ent.VM.UpdateOneID(b.ID).SetStatusMessage("stop took long").ExecX(ctx)
	if n, _ := statussync.Apply(ctx, f.store.SQL, f.cluster.ID, list[1:2]); n != 0 || f.get(b.ID).StatusMessage != "stop took long" {
		t.Fatal("note overwritten by a quiet observation")
	}
	// ...but not a message from the cluster.
	failed := status("b", kube.PhaseFailed)
	failed.Message = "ErrImagePull"
	statussync.Apply(ctx, f.store.SQL, f.cluster.ID, []kube.VMStatus{failed})
	if r := f.get(b.ID); r.Status != vm.StatusFAILED || r.StatusMessage != "ErrImagePull" {
		t.Fatalf("failed: %s %q", r.Status, r.StatusMessage)
	}
}

func TestApplyBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var list []kube.VMStatus
	for i := range 1203 {
		name := fmt.Sprintf("vm-%d", i)
		list = append(list, status(name, kube.PhaseStopped))
	}
	for _, i := range []int{0, 499, 500, 1202} {
		f.row(list[i].Ref.Name, vm.StatusRUNNING, list[i].UID, time.Hour)
	}
	n, err := statussync.Apply(t.Context(), f.store.SQL, f.cluster.ID, list)
	if err != nil || n != 4 {
		t.Fatalf("apply: %d %v", n, err)
	}
}

func TestMarkMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	present := f.row("present", vm.StatusRUNNING, "uid-present", time.Hour)
	p2 := f.row("present-2", vm.StatusRUNNING, "uid-present-2", time.Hour)
	ghost := f.row("ghost", vm.StatusSTOPPED, "uid-ghost", time.Hour)
	young := f.row("young", vm.StatusRUNNING, "uid-young", time.Second)
	noUID := f.row("no-uid", vm.StatusFAILED, "", time.Hour)
	creating := f.row("creating", vm.StatusCREATING, "uid-creating", time.Hour)
	deleting := f.row("deleting", vm.StatusDELETING, "uid-deleting", time.Hour)
	list := []kube.VMStatus{status("present", kube.PhaseRunning), status("present-2", kube.PhaseRunning)}

	m, err := statussync.MarkMissing(ctx, f.store.SQL, f.cluster.ID, "sim-a", list, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidates != 3 || m.Absent != 1 || m.Marked != 1 || m.Halted {
		t.Fatalf("missing: %+v", m)
	}
	if r := f.get(ghost.ID); r.K8sExists || r.Status != vm.StatusUNKNOWN || r.StatusMessage != statussync.MissingMessage("sim-a") {
		t.Fatalf("ghost: %+v", r)
	}
	for name, r := range map[string]bool{"present": f.get(present.ID).K8sExists, "present-2": f.get(p2.ID).K8sExists, "young": f.get(young.ID).K8sExists,
		"no uid": f.get(noUID.ID).K8sExists, "creating": f.get(creating.ID).K8sExists, "deleting": f.get(deleting.ID).K8sExists} {
		if !r {
			t.Errorf("%s marked missing", name)
		}
	}
	// Marking again writes nothing.
	if m, _ := statussync.MarkMissing(ctx, f.store.SQL, f.cluster.ID, "sim-a", list, time.Minute); m.Marked != 0 || m.Absent != 1 {
		t.Fatalf("second pass: %+v", m)
	}
	// It comes back.
	if n, _ := statussync.Apply(ctx, f.store.SQL, f.cluster.ID, []kube.VMStatus{status("ghost", kube.PhaseStopped)}); n != 1 {
		t.Fatal("ghost not restored")
	}
	if r := f.get(ghost.ID); !r.K8sExists || r.Status != vm.StatusSTOPPED || r.StatusMessage != "" {
		t.Fatalf("restored: %+v", r)
	}
}

func TestMarkMissingCircuitBreaker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c", "d"} {
		f.row(name, vm.StatusRUNNING, "uid-"+name, time.Hour)
	}
	// An empty list (a wrong kubeconfig, a broken API) would make every VM a ghost.
	m, err := statussync.MarkMissing(t.Context(), f.store.SQL, f.cluster.ID, "sim-a", nil, time.Minute)
	if err != nil || !m.Halted || m.Marked != 0 {
		t.Fatalf("breaker: %+v %v", m, err)
	}
	// Exactly half is believable.
	m, _ = statussync.MarkMissing(t.Context(), f.store.SQL, f.cluster.ID, "sim-a",
		[]kube.VMStatus{status("a", kube.PhaseRunning), status("b", kube.PhaseRunning)}, time.Minute)
	if m.Halted || m.Marked != 2 {
		t.Fatalf("half: %+v", m)
	}
}

// A VM still CREATING in Shepherd that the cluster shows Running is shown RUNNING at once;
// any other observation of a CREATING row leaves it to its worker.
func TestCreatingVMSeenRunningIsShownRunning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	up := f.row("up", vm.StatusCREATING, "", time.Hour)
	booting := f.row("booting", vm.StatusCREATING, "", time.Hour)
	running := status("up", kube.PhaseRunning)
	running.IP, running.Node, running.UID = "10.0.0.7", "node-1", "uid-up"
	n, err := statussync.Apply(ctx, f.store.SQL, f.cluster.ID, []kube.VMStatus{running, status("booting", kube.PhaseStarting)})
	if err != nil || n != 1 {
		t.Fatalf("Apply = %d, %v; want 1 row", n, err)
	}
	if r := f.get(up.ID); r.Status != vm.StatusRUNNING || r.IP != "10.0.0.7" || r.Node != "node-1" || r.K8sUID != "uid-up" {
		t.Errorf("running VM shown as %s ip %q node %q uid %q", r.Status, r.IP, r.Node, r.K8sUID)
	}
	if r := f.get(booting.ID); r.Status != vm.StatusCREATING || r.SyncedAt != nil {
		t.Errorf("booting VM touched: %s", r.Status)
	}
}
