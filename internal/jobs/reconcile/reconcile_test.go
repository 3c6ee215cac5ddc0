package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/pendingadoption"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/jobs/clusterhealth"
	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/internal/provisioning"
	"kv-shepherd.io/shepherd/internal/statussync"
)

func TestGhostsAreMarkedAndComeBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.managed("dev-shop-web-1"), f.managed("dev-shop-web-2")
	f.managed("dev-shop-web-3")
	// Not ghosts although absent: a row still being created, one being deleted, a
	// young row whose worker may be applying it, a failed create that never existed.
	creating := f.row("dev-shop-web-4", vm.StatusCREATING, "", time.Hour)
	deleting := f.row("dev-shop-web-5", vm.StatusDELETING, "uid-5", time.Hour)
	young := f.row("dev-shop-web-6", vm.StatusRUNNING, "uid-6", time.Second)
	failed := f.row("dev-shop-web-7", vm.StatusFAILED, "", time.Hour)

	f.del("dev-shop-web-1")
	rep := f.run()
	if rep.Ghosts != 1 || rep.Marked != 1 || rep.Halted || rep.Listed != 2 {
		t.Fatalf("report: %+v", rep)
	}
	if r := f.get(a.ID); r.K8sExists || r.Status != vm.StatusUNKNOWN || r.StatusMessage != statussync.MissingMessage("sim-a") {
		t.Fatalf("ghost: %s exists=%v %q", r.Status, r.K8sExists, r.StatusMessage)
	}
	for _, r := range []struct {
		name string
		ok   bool
	}{{"present", f.get(b.ID).K8sExists}, {"creating", f.get(creating.ID).K8sExists}, {"deleting", f.get(deleting.ID).K8sExists},
		{"young", f.get(young.ID).K8sExists}, {"failed", f.get(failed.ID).K8sExists}} {
		if !r.ok {
			t.Errorf("%s marked as a ghost", r.name)
		}
	}
	if rep := f.run(); rep.Ghosts != 1 || rep.Marked != 0 {
		t.Fatalf("second pass rewrote the ghost: %+v", rep)
	}

	// The VM is back (restored from a backup, say): the row is whole again.
	f.apply("dev-shop-web-1", map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue})
	rep = f.run()
	if r := f.get(a.ID); !r.K8sExists || r.Status != vm.StatusRUNNING || r.StatusMessage != "" || rep.Ghosts != 0 {
		t.Fatalf("returned: %s exists=%v %q %+v", r.Status, r.K8sExists, r.StatusMessage, rep)
	}
	if rep.Orphans != 0 {
		t.Fatalf("a VM with a live row is no orphan: %+v", rep)
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	names := []string{"dev-shop-web-1", "dev-shop-web-2", "dev-shop-web-3", "dev-shop-web-4"}
	for _, n := range names {
		f.managed(n)
	}
	for _, n := range names[:3] {
		f.del(n)
	}
	rep := f.run()
	if !rep.Halted || rep.Marked != 0 || rep.Ghosts != 3 {
		t.Fatalf("report: %+v", rep)
	}
	if n := f.store.Ent.VM.Query().Where(vm.K8sExists(false)).CountX(context.Background()); n != 0 {
		t.Fatalf("%d rows marked despite the breaker", n)
	}
	c := f.store.Ent.Cluster.GetX(context.Background(), f.cluster.ID)
	if !strings.HasPrefix(c.StatusMessage, clusterhealth.ReconcileNotePrefix) || !strings.Contains(c.StatusMessage, "3 of 4") {
		t.Fatalf("cluster note: %q", c.StatusMessage)
	}
	if c.Status != cluster.StatusHEALTHY {
		t.Fatalf("the breaker does not change health: %s", c.Status)
	}

	// Two come back: two of four missing is believable; the note goes away.
	for _, n := range names[:2] {
		f.apply(n, map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue})
	}
	rep = f.run()
	if rep.Halted || rep.Marked != 1 {
		t.Fatalf("after recovery: %+v", rep)
	}
	if c := f.store.Ent.Cluster.GetX(context.Background(), f.cluster.ID); c.StatusMessage != "" {
		t.Fatalf("note kept: %q", c.StatusMessage)
	}
}

func TestOrphans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sys := f.store.Ent.System.Create().SetName("shop").SaveX(ctx)
	svc := f.store.Ent.Service.Create().SetSystemID(sys.ID).SetName("web").SaveX(ctx)
	f.store.Ent.Service.Create().SetSystemID(sys.ID).SetName("old").SetDeletedAt(time.Now()).ExecX(ctx)
	labels := func(system, service, instance string) map[string]string {
		return map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue, provisioning.LabelSystem: system,
			provisioning.LabelService: service, provisioning.LabelInstance: instance}
	}
	f.apply("dev-shop-web-1", labels("shop", "web", "1"))                                 // adoptable by names
	f.apply("dev-shop-web-2", labels(sys.ID.String(), svc.ID.String(), "2"))              // adoptable by ids
	f.apply("dev-shop-old-1", labels("shop", "old", "1"))                                 // its Service was deleted
	f.apply("dev-shop-api-1", labels("shop", "api", "1"))                                 // no such Service
	f.apply("dev-pay-web-1", labels("payments", "web", "1"))                              // web exists, but in shop
	f.apply("hand-made", nil)                                                             // not Shepherd's: ignored
	f.apply("other-tool", map[string]string{provisioning.LabelManagedBy: "someone-else"}) // ditto
	managed := f.managed("dev-shop-web-3")                                                // has its row: no orphan
	f.managed("dev-shop-web-4")
	f.managed("dev-shop-web-5")

	rep := f.run()
	if rep.Orphans != 5 || rep.Adoptable != 2 || rep.Ghosts != 0 {
		t.Fatalf("report: %+v", rep)
	}
	got := f.adoptions()
	want := map[string]bool{"dev-shop-web-1": true, "dev-shop-web-2": true, "dev-shop-old-1": false, "dev-shop-api-1": false, "dev-pay-web-1": false}
	if len(got) != len(want) {
		t.Fatalf("adoptions: %v", got)
	}
	for name, adoptable := range want {
		a := got[name]
		if a == nil || a.Adoptable != adoptable || a.Status != pendingadoption.StatusPENDING || a.ClusterName != "sim-a" || a.K8sUID == "" {
			t.Errorf("%s: %+v, want adoptable=%v", name, a, adoptable)
		}
	}
	if a := got["dev-shop-web-1"]; a.SystemLabel != "shop" || a.ServiceLabel != "web" || a.InstanceLabel != "1" || a.Namespace != ns {
		t.Errorf("labels: %+v", a)
	}
	firstSeen := got["dev-shop-web-1"].LastSeenAt

	// An admin ignores one; a re-run keeps that, refreshes last_seen_at and drops
	// entries whose VM vanished.
	f.store.Ent.PendingAdoption.UpdateOneID(got["dev-shop-api-1"].ID).SetStatus(pendingadoption.StatusIGNORED).ExecX(ctx)
	f.del("dev-shop-old-1")
	f.del(managed.Name) // now a ghost, not an orphan
	rep = f.run()
	got = f.adoptions()
	if _, ok := got["dev-shop-old-1"]; ok || rep.Removed != 1 || rep.Marked != 1 {
		t.Fatalf("vanished orphan kept: %+v", rep)
	}
	if got["dev-shop-api-1"].Status != pendingadoption.StatusIGNORED {
		t.Fatal("ignored entry reset")
	}
	if !got["dev-shop-web-1"].LastSeenAt.After(firstSeen) {
		t.Fatal("last_seen_at not refreshed")
	}

	// The ignored VM is re-created (a new object): it is a new question.
	f.del("dev-shop-api-1")
	f.apply("dev-shop-api-1", labels("shop", "api", "1"))
	f.run()
	if a := f.adoptions()["dev-shop-api-1"]; a.Status != pendingadoption.StatusPENDING {
		t.Fatalf("re-created orphan: %s", a.Status)
	}
	// An orphan that gets its row (adopted by other means) leaves the list.
	f.row("dev-shop-web-1", vm.StatusRUNNING, "x", time.Hour)
	f.run()
	if _, ok := f.adoptions()["dev-shop-web-1"]; ok {
		t.Fatal("orphan with a live row kept")
	}
}

func TestOnlyHealthyClustersAndFailuresAreSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	row := f.managed("dev-shop-web-1")
	f.managed("dev-shop-web-2")
	f.managed("dev-shop-web-3")
	f.del("dev-shop-web-1")

	// An unhealthy cluster is not reconciled at all.
	f.store.Ent.Cluster.UpdateOneID(f.cluster.ID).SetStatus(cluster.StatusUNREACHABLE).ExecX(ctx)
	reports, err := f.rec.RunAll(ctx)
	if err != nil || len(reports) != 0 || !f.get(row.ID).K8sExists {
		t.Fatalf("unhealthy cluster reconciled: %+v %v", reports, err)
	}
	// A cluster that fails its list mid-check is skipped without an error.
	f.store.Ent.Cluster.UpdateOneID(f.cluster.ID).SetStatus(cluster.StatusHEALTHY).ExecX(ctx)
	f.sim.SetHealthy(false)
	reports, err = f.rec.RunAll(ctx)
	if err != nil || len(reports) != 0 || !f.get(row.ID).K8sExists {
		t.Fatalf("failing cluster: %+v %v", reports, err)
	}
	f.sim.SetHealthy(true)
	w := &reconcile.Worker{Reconciler: f.rec}
	if err := w.Work(ctx, &river.Job[reconcile.Args]{}); err != nil {
		t.Fatal(err)
	}
	if f.get(row.ID).K8sExists {
		t.Fatal("ghost not marked once the cluster answers")
	}
}

func TestOverview(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []string{"dev-shop-web-1", "dev-shop-web-2", "dev-shop-web-3"} {
		f.managed(n)
	}
	f.apply("dev-shop-web-9", map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue})
	f.del("dev-shop-web-2")
	f.run()
	o, err := reconcile.LoadOverview(ctx, f.store.Ent, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Clusters) != 1 || o.GhostTotal != 1 || len(o.Ghosts) != 1 || o.Ghosts[0].Name != "dev-shop-web-2" ||
		len(o.Adoptions) != 1 || o.Adoptions[0].Name != "dev-shop-web-9" {
		t.Fatalf("overview: %+v", o)
	}
	ghosts, orphans, err := reconcile.Counts(ctx, f.store.Ent)
	if err != nil || ghosts != 1 || orphans != 1 {
		t.Fatalf("counts: %d %d %v", ghosts, orphans, err)
	}
}
