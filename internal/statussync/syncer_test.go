package statussync_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/statussync"
)

func TestStopOnClusterShowsStopped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st := f.apply("dev-shop-web-1", true)
	row := f.row("dev-shop-web-1", vm.StatusRUNNING, st.UID, time.Hour)
	f.start(statussync.Options{})

	// The initial list fills what the worker did not know: IP and node.
	eventually(t, "ip and node from the list", func() bool {
		r := f.get(row.ID)
		return r.IP == st.IP && r.Node == st.Node && r.SyncedAt != nil
	})
	if err := f.sim.StopVM(t.Context(), st.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "STOPPED", func() bool { return f.get(row.ID).Status == vm.StatusSTOPPED })
	if r := f.get(row.ID); r.IP != "" || r.Node != "" || !r.K8sExists {
		t.Fatalf("stopped VM: ip %q node %q exists %v", r.IP, r.Node, r.K8sExists)
	}
	if err := f.sim.StartVM(t.Context(), st.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RUNNING again", func() bool { r := f.get(row.ID); return r.Status == vm.StatusRUNNING && r.IP != "" })
}

func TestDeletedBehindShepherdsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gone := f.apply("dev-shop-web-1", true)
	stays := f.apply("dev-shop-web-2", true)
	goneRow := f.row("dev-shop-web-1", vm.StatusRUNNING, gone.UID, time.Hour)
	staysRow := f.row("dev-shop-web-2", vm.StatusRUNNING, stays.UID, time.Hour)
	s := f.start(statussync.Options{})

	if err := f.sim.DeleteVM(t.Context(), gone.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ghost marked", func() bool { return !f.get(goneRow.ID).K8sExists })
	r := f.get(goneRow.ID)
	if r.Status != vm.StatusUNKNOWN || r.StatusMessage != "not found on cluster sim-a — deleted outside Shepherd?" || r.IP != "" {
		t.Fatalf("ghost: status %s message %q ip %q", r.Status, r.StatusMessage, r.IP)
	}
	// Nothing crashed: the watcher still syncs the other VM.
	if err := f.sim.StopVM(t.Context(), stays.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "other VM STOPPED", func() bool { return f.get(staysRow.ID).Status == vm.StatusSTOPPED })
	if !s.Healthy(f.cluster.ID) {
		t.Fatal("watcher unhealthy after a deletion")
	}

	// The VM comes back (re-created under the same name): the row exists again.
	again := f.apply("dev-shop-web-1", false)
	eventually(t, "ghost back", func() bool {
		r := f.get(goneRow.ID)
		return r.K8sExists && r.Status == vm.StatusSTOPPED && r.StatusMessage == ""
	})
	if f.get(goneRow.ID).K8sUID != gone.UID || again.UID == gone.UID {
		t.Fatal("the row keeps the uid the worker recorded")
	}
}

func TestDroppedWatchRelists(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st := f.apply("dev-shop-web-1", true)
	row := f.row("dev-shop-web-1", vm.StatusRUNNING, st.UID, time.Hour)
	var others []*ent.VM
	for _, name := range []string{"dev-shop-web-2", "dev-shop-web-3", "dev-shop-web-4"} {
		others = append(others, f.row(name, vm.StatusRUNNING, f.apply(name, true).UID, time.Hour))
	}
	// A backoff long enough that the changes below happen while no watch is open,
	// so only the re-list can see them.
	s := f.start(statussync.Options{MinBackoff: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})

	f.sim.DropWatches()
	if err := f.sim.StopVM(t.Context(), st.Ref); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteVM(t.Context(), kube.VMRef{Namespace: ns, Name: "dev-shop-web-2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "STOPPED after the re-list", func() bool { return f.get(row.ID).Status == vm.StatusSTOPPED })
	eventually(t, "ghost after the re-list", func() bool { return !f.get(others[0].ID).K8sExists })
	for _, o := range others[1:] {
		if r := f.get(o.ID); !r.K8sExists || r.Status != vm.StatusRUNNING {
			t.Fatalf("%s: %s exists=%v", r.Name, r.Status, r.K8sExists)
		}
	}
	// And the new watch carries on.
	eventually(t, "healthy again", func() bool { return s.Healthy(f.cluster.ID) })
	if err := f.sim.StartVM(t.Context(), st.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RUNNING via the new watch", func() bool { return f.get(row.ID).Status == vm.StatusRUNNING })
}

func TestWorkerOwnedRowsAreNeverTouched(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	creating := f.apply("dev-shop-web-1", true)
	deleting := f.apply("dev-shop-web-2", true)
	barrier := f.apply("dev-shop-web-3", true)
	creatingRow := f.row("dev-shop-web-1", vm.StatusCREATING, creating.UID, time.Hour)
	deletingRow := f.row("dev-shop-web-2", vm.StatusDELETING, deleting.UID, time.Hour)
	// CREATING without a cluster object at all: not a ghost either.
	unapplied := f.row("dev-shop-web-4", vm.StatusCREATING, "", time.Hour)
	barrierRow := f.row("dev-shop-web-3", vm.StatusRUNNING, barrier.UID, time.Hour)
	// A CREATING VM seen Running is shown RUNNING (TestCreatingVMSeenRunningIsShownRunning);
	// seen in any other state it stays its worker's.
	if err := f.sim.StopVM(t.Context(), creating.Ref); err != nil {
		t.Fatal(err)
	}
	f.start(statussync.Options{})

	if err := f.sim.StopVM(t.Context(), deleting.Ref); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteVM(t.Context(), deleting.Ref); err != nil {
		t.Fatal(err)
	}
	// Events apply in order, so once the barrier VM's stop is in, the others were seen.
	if err := f.sim.StopVM(t.Context(), barrier.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "barrier STOPPED", func() bool { return f.get(barrierRow.ID).Status == vm.StatusSTOPPED })
	for _, c := range []struct {
		name string
		id   uuid.UUID
		want vm.Status
	}{{"creating", creatingRow.ID, vm.StatusCREATING}, {"deleting", deletingRow.ID, vm.StatusDELETING}, {"unapplied", unapplied.ID, vm.StatusCREATING}} {
		r := f.get(c.id)
		if r.Status != c.want || !r.K8sExists || r.SyncedAt != nil || r.IP != "" || r.StatusMessage != "" {
			t.Errorf("%s row was touched: %s exists=%v synced=%v ip=%q msg=%q", c.name, r.Status, r.K8sExists, r.SyncedAt, r.IP, r.StatusMessage)
		}
	}
}

func TestUnhealthyClusterRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st := f.apply("dev-shop-web-1", true)
	row := f.row("dev-shop-web-1", vm.StatusRUNNING, st.UID, time.Hour)
	s := f.start(statussync.Options{})

	f.sim.SetHealthy(false)
	eventually(t, "watcher notices the outage", func() bool {
		state, _ := s.State(f.cluster.ID)
		return !state.Healthy && state.LastError != ""
	})
	// A dropped watch during the outage: re-lists fail and are retried, nothing crashes.
	f.sim.DropWatches()
	time.Sleep(200 * time.Millisecond)
	if s.Healthy(f.cluster.ID) {
		t.Fatal("healthy during the outage")
	}
	f.sim.SetHealthy(true)
	eventually(t, "watcher healthy again", func() bool { return s.Healthy(f.cluster.ID) })
	if err := f.sim.StopVM(t.Context(), st.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "STOPPED after recovery", func() bool { return f.get(row.ID).Status == vm.StatusSTOPPED })
	if state, _ := s.State(f.cluster.ID); state.LastError != "" || time.Since(state.LastHeartbeat) > 5*time.Second {
		t.Fatalf("state after recovery: %+v", state)
	}
}

func TestWatchersFollowTheClusterSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.start(statussync.Options{})

	other := f.addCluster("sim-b")
	eventually(t, "watcher of a new cluster", func() bool { return s.Healthy(other.ID) })
	f.store.Ent.Cluster.UpdateOneID(other.ID).SetEnabled(false).ExecX(context.Background())
	eventually(t, "watcher of a disabled cluster stops", func() bool { _, ok := s.State(other.ID); return !ok })
	if states := s.States(); len(states) != 1 || states[0].Name != "sim-a" {
		t.Fatalf("states: %+v", states)
	}
}

func TestUnsupportedProviderIsRetriedQuietly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	real := f.store.Ent.Cluster.Create().SetName("real-1").SetEnvironment("test").SetProvider("kubevirt").
		SaveX(context.Background())
	s := f.start(statussync.Options{})
	eventually(t, "error recorded", func() bool { st, ok := s.State(real.ID); return ok && st.LastError != "" })
	if s.Healthy(real.ID) || !s.Healthy(f.cluster.ID) {
		t.Fatal("one cluster's failure must not affect another")
	}
}
