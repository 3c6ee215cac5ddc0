package statussync_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/statussync"
	"kv-shepherd.io/shepherd/internal/testorg"
)

const ns = "dev"

// fixture is one database, a registry and one simulated cluster.
type fixture struct {
	t        *testing.T
	store    *db.Store
	reg      *clusters.Registry
	cluster  *ent.Cluster
	sim      *sim.Cluster
	clusters *testorg.Clusters
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cs := testorg.NewClusters(t)
	f := &fixture{t: t, store: cs.Store, reg: cs.Registry, clusters: cs}
	f.cluster, f.sim = cs.AddSim(t, "sim-a", nil, ns)
	return f
}

func (f *fixture) addCluster(name string) *ent.Cluster {
	row, _ := f.clusters.AddSim(f.t, name, nil)
	return row
}

// apply creates a VM on the simulated cluster (running or stopped) and returns its status.
func (f *fixture) apply(name string, running bool) kube.VMStatus {
	f.t.Helper()
	st, err := f.sim.ApplyVM(f.t.Context(), kube.VMSpec{Ref: kube.VMRef{Namespace: ns, Name: name}, CPUCores: 1, DiskGB: 10,
		Image: "quay.io/containerdisks/fedora:40", Running: running,
		Labels: map[string]string{"kubevirt-shepherd.io/managed-by": "kubevirt-shepherd"}})
	if err != nil {
		f.t.Fatal(err)
	}
	got, err := f.sim.GetVM(f.t.Context(), st.Ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// row inserts a VM row of the fixture's cluster, created age ago.
func (f *fixture) row(name string, status vm.Status, uid string, age time.Duration) *ent.VM {
	return f.store.Ent.VM.Create().SetName(name).SetServiceID(uuid.New()).SetSystemID(uuid.New()).
		SetNamespaceID(uuid.New()).SetNamespaceName(ns).SetEnvironment(vm.EnvironmentTest).SetClusterID(f.cluster.ID).
		SetInstanceIndex(1).SetInstanceSizeID(uuid.New()).SetTemplateID(uuid.New()).SetTicketID(uuid.New()).
		SetCreatedBy(uuid.New()).SetStatus(status).SetK8sUID(uid).SetCreatedAt(time.Now().Add(-age)).
		SaveX(context.Background())
}

func (f *fixture) get(id uuid.UUID) *ent.VM {
	return f.store.Ent.VM.GetX(context.Background(), id)
}

// start runs a Syncer with test-sized intervals until the test ends.
func (f *fixture) start(opts statussync.Options) *statussync.Syncer {
	if opts.Refresh == 0 {
		opts.Refresh = 50 * time.Millisecond
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 50 * time.Millisecond
	}
	s := statussync.New(f.store, f.reg, quiet(), opts)
	ctx, cancel := context.WithCancel(context.Background())
	run := runner.New(ctx, quiet())
	run.Go("syncer", s.Run)
	f.t.Cleanup(func() { cancel(); run.Wait() })
	eventually(f.t, "watcher healthy", func() bool { return s.Healthy(f.cluster.ID) })
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
