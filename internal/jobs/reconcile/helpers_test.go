package reconcile_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/pendingadoption"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/provisioning"
	"kv-shepherd.io/shepherd/internal/testorg"
)

const ns = "dev"

type fixture struct {
	t       *testing.T
	store   *db.Store
	reg     *clusters.Registry
	cluster *ent.Cluster
	sim     *sim.Cluster
	rec     *reconcile.Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cs := testorg.NewClusters(t)
	f := &fixture{t: t, store: cs.Store, reg: cs.Registry, rec: &reconcile.Reconciler{Store: cs.Store, Clusters: cs.Registry,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Minute}}
	f.cluster, f.sim = cs.AddSim(t, "sim-a", nil, ns)
	return f
}

// apply creates a VM on the cluster with the given labels.
func (f *fixture) apply(name string, labels map[string]string) kube.VMStatus {
	f.t.Helper()
	st, err := f.sim.ApplyVM(f.t.Context(), kube.VMSpec{Ref: kube.VMRef{Namespace: ns, Name: name}, CPUCores: 1, DiskGB: 10,
		Image: "quay.io/containerdisks/fedora:40", Running: true, Labels: labels})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// managed applies a VM with Shepherd's labels and a row describing it.
func (f *fixture) managed(name string) *ent.VM {
	st := f.apply(name, map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue})
	return f.row(name, vm.StatusRUNNING, st.UID, time.Hour)
}

func (f *fixture) row(name string, status vm.Status, uid string, age time.Duration) *ent.VM {
	return f.store.Ent.VM.Create().SetName(name).SetServiceID(uuid.New()).SetSystemID(uuid.New()).
		SetNamespaceID(uuid.New()).SetNamespaceName(ns).SetEnvironment(vm.EnvironmentTest).SetClusterID(f.cluster.ID).
		SetInstanceIndex(1).SetInstanceSizeID(uuid.New()).SetTemplateID(uuid.New()).SetTicketID(uuid.New()).
		SetCreatedBy(uuid.New()).SetStatus(status).SetK8sUID(uid).SetCreatedAt(time.Now().Add(-age)).
		SaveX(context.Background())
}

func (f *fixture) get(id uuid.UUID) *ent.VM { return f.store.Ent.VM.GetX(context.Background(), id) }

func (f *fixture) del(name string) {
	f.t.Helper()
	if err := f.sim.DeleteVM(f.t.Context(), kube.VMRef{Namespace: ns, Name: name}); err != nil {
		f.t.Fatal(err)
	}
}

// run reconciles and returns the report of sim-a.
func (f *fixture) run() reconcile.Report {
	f.t.Helper()
	reports, err := f.rec.RunAll(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range reports {
		if r.Cluster == "sim-a" {
			return r
		}
	}
	f.t.Fatalf("sim-a not reconciled: %+v", reports)
	return reconcile.Report{}
}

// adoptions lists the cluster's pending_adoptions by name.
func (f *fixture) adoptions() map[string]*ent.PendingAdoption {
	rows := f.store.Ent.PendingAdoption.Query().Where(pendingadoption.ClusterID(f.cluster.ID)).AllX(context.Background())
	out := map[string]*ent.PendingAdoption{}
	for _, r := range rows {
		out[r.Name] = r
	}
	return out
}
