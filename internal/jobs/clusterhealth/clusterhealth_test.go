package clusterhealth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/clusterhealthcheck"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/jobs/clusterhealth"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/testorg"
)

type fixture struct {
	*testorg.Clusters
	store   *db.Store
	reg     *clusters.Registry
	checker *clusterhealth.Checker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cs := testorg.NewClusters(t)
	return &fixture{Clusters: cs, store: cs.Store, reg: cs.Registry, checker: &clusterhealth.Checker{Store: cs.Store, Clusters: cs.Registry,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Timeout: 200 * time.Millisecond}}
}

// simCluster registers a simulated cluster whose hardware is what its record says.
func (f *fixture) simCluster(t *testing.T, name string, mutate func(*ent.ClusterCreate)) *ent.Cluster {
	row, _ := f.AddSim(t, name, mutate)
	return row
}

func (f *fixture) get(t *testing.T, c *ent.Cluster) *ent.Cluster {
	return f.store.Ent.Cluster.GetX(t.Context(), c.ID)
}

func eligible(t *testing.T, f *fixture) []string {
	cs, err := catalog.EligibleClusters(t.Context(), f.store.Ent, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestUnhealthyClusterLeavesAndRejoinsPlacement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := f.simCluster(t, "sim-a", nil)
	f.simCluster(t, "sim-b", nil)
	sa := f.reg.Sim(ctx, "sim-a")
	work := func() {
		t.Helper()
		w := &clusterhealth.Worker{Checker: f.checker}
		if err := w.Work(ctx, &river.Job[clusterhealth.Args]{}); err != nil {
			t.Fatal(err)
		}
	}

	work()
	if got := eligible(t, f); !slices.Equal(got, []string{"sim-a", "sim-b"}) {
		t.Fatalf("eligible: %v", got)
	}
	sa.SetHealthy(false)
	work()
	row := f.get(t, a)
	if row.Status != cluster.StatusUNREACHABLE || !strings.Contains(row.StatusMessage, "CLUSTER_UNHEALTHY") || row.LastCheckedAt == nil {
		t.Fatalf("after outage: %s %q", row.Status, row.StatusMessage)
	}
	if got := eligible(t, f); !slices.Equal(got, []string{"sim-b"}) {
		t.Fatalf("eligible during outage: %v", got)
	}
	sa.SetHealthy(true)
	work()
	if row := f.get(t, a); row.Status != cluster.StatusHEALTHY || row.StatusMessage != "" {
		t.Fatalf("after recovery: %s %q", row.Status, row.StatusMessage)
	}
	if got := eligible(t, f); !slices.Equal(got, []string{"sim-a", "sim-b"}) {
		t.Fatalf("eligible after recovery: %v", got)
	}
}

// drifted is a cluster whose hardware no longer matches its record (a real cluster
// after a node change): the provider is a simulated cluster built with other capabilities.
type drifted struct{ hw *sim.Cluster }

func (d drifted) For(*ent.Cluster) (kube.Provider, error) { return d.hw, nil }

func TestCapabilitiesAreDetected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	c := f.simCluster(t, "sim-a", func(c *ent.ClusterCreate) {
		c.SetGpuDevices([]string{}).SetHugepages([]string{"1Gi"}).SetStorageClasses([]string{"fast"}).SetDefaultStorageClass("fast")
	})
	hw := sim.New(sim.Options{Capabilities: kube.Capabilities{KubeVirtVersion: "v1.9.0-sim",
		GPUDevices: []string{"nvidia.com/GA102GL_A10"}, Hugepages: []string{"2Mi"}, DedicatedCPU: true,
		StorageClasses: []string{"standard", "fast"}, DefaultStorageClass: "standard"}})
	t.Cleanup(hw.Close)
	checker := &clusterhealth.Checker{Store: f.store, Clusters: drifted{hw}}
	if _, err := checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	row := f.get(t, c)
	if row.KubevirtVersion != "v1.9.0-sim" || !slices.Equal(row.GpuDevices, []string{"nvidia.com/GA102GL_A10"}) ||
		!slices.Equal(row.Hugepages, []string{"2Mi"}) || !row.DedicatedCPU || !slices.Equal(row.StorageClasses, []string{"standard", "fast"}) {
		t.Fatalf("capabilities: %+v", row)
	}
	if row.DefaultStorageClass != "fast" {
		t.Fatalf("the admin's default is still offered and must stay: %q", row.DefaultStorageClass)
	}
	// A default the cluster no longer offers falls back to the cluster's.
	f.store.Ent.Cluster.UpdateOneID(c.ID).SetDefaultStorageClass("gone").ExecX(ctx)
	if _, err := checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	if row := f.get(t, c); row.DefaultStorageClass != "standard" {
		t.Fatalf("fallback default: %q", row.DefaultStorageClass)
	}
}

// For a simulated cluster the record is the hardware: an admin's edit survives the
// next check instead of being "detected" back to what the sim first saw.
func TestSimulatedClusterReportsItsRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	c := f.simCluster(t, "sim-b", func(c *ent.ClusterCreate) {
		c.SetStorageClasses([]string{"standard"}).SetDefaultStorageClass("standard")
	})
	f.store.Ent.Cluster.UpdateOneID(c.ID).SetStorageClasses([]string{"standard", "nvme"}).SetGpuDevices([]string{"nvidia.com/L4"}).ExecX(ctx)
	if _, err := f.checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	if row := f.get(t, c); !slices.Equal(row.StorageClasses, []string{"standard", "nvme"}) || !slices.Equal(row.GpuDevices, []string{"nvidia.com/L4"}) {
		t.Fatalf("the admin's edit was lost: %+v", row)
	}
}

func TestFailuresAreClassified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	slow := f.simCluster(t, "slow", nil)
	f.reg.Sim(ctx, "slow").SetSlow(time.Second)
	forbidden := f.simCluster(t, "forbidden", nil)
	f.reg.Sim(ctx, "forbidden").FailNext("Health", kube.NewPermanent(kube.CodePermissionDenied, "serviceaccount cannot get nodes"))
	capsFail := f.simCluster(t, "caps-fail", func(c *ent.ClusterCreate) { c.SetStorageClasses([]string{"standard"}).SetKubevirtVersion("v1.2.0") })
	f.reg.Sim(ctx, "caps-fail").FailNext("Capabilities", kube.NewRetryable(kube.CodeInternal, "discovery failed"))
	real := f.store.Ent.Cluster.Create().SetName("real").SetEnvironment("test").SetProvider("kubevirt").SetStatus("HEALTHY").SaveX(ctx)
	off := f.simCluster(t, "off", nil)
	f.store.Ent.Cluster.UpdateOneID(off.ID).SetEnabled(false).SetStatus(cluster.StatusUNKNOWN).ExecX(ctx)

	results, err := f.checker.CheckAll(ctx)
	if err != nil || len(results) != 4 {
		t.Fatalf("results %+v, %v", results, err)
	}
	for _, tc := range []struct {
		c      *ent.Cluster
		status cluster.Status
		msg    string
	}{
		{slow, cluster.StatusUNREACHABLE, "TIMEOUT"},
		{forbidden, cluster.StatusUNHEALTHY, "serviceaccount cannot get nodes"},
		{capsFail, cluster.StatusHEALTHY, "Capability detection failed"},
		{real, cluster.StatusUNHEALTHY, "has no kubeconfig"},
	} {
		row := f.get(t, tc.c)
		if row.Status != tc.status || !strings.Contains(row.StatusMessage, tc.msg) {
			t.Errorf("%s: %s %q, want %s with %q", row.Name, row.Status, row.StatusMessage, tc.status, tc.msg)
		}
	}
	if row := f.get(t, capsFail); row.KubevirtVersion != "v1.2.0" || !slices.Equal(row.StorageClasses, []string{"standard"}) {
		t.Errorf("capabilities kept when detection fails: %+v", row)
	}
	if row := f.get(t, off); row.Status != cluster.StatusUNKNOWN || row.LastCheckedAt != nil {
		t.Errorf("a disabled cluster is not checked: %+v", row)
	}
}

func TestHealthyCheckKeepsReconcileNote(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	note := clusterhealth.ReconcileNotePrefix + "6 of 8 VMs look deleted"
	c := f.simCluster(t, "sim-a", func(c *ent.ClusterCreate) { c.SetStatusMessage(note) })
	other := f.simCluster(t, "sim-b", func(c *ent.ClusterCreate) { c.SetStatusMessage("Cluster API unreachable: old") })
	if _, err := f.checker.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, c).StatusMessage; got != note {
		t.Fatalf("note: %q", got)
	}
	if got := f.get(t, other).StatusMessage; got != "" {
		t.Fatalf("stale health message kept: %q", got)
	}
}

func history(t *testing.T, f *fixture, c *ent.Cluster) []*ent.ClusterHealthCheck {
	t.Helper()
	rows, err := catalog.HealthHistory(t.Context(), f.store.Ent, c.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestEveryCheckIsRecordedInTheHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := f.simCluster(t, "sim-a", func(c *ent.ClusterCreate) { c.SetKubevirtVersion("v1.9.0-sim") })
	if _, err := f.checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	f.reg.Sim(ctx, "sim-a").SetHealthy(false)
	if _, err := f.checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	rows := history(t, f, a)
	if len(rows) != 2 {
		t.Fatalf("%d history rows, want 2", len(rows))
	}
	latest, first := rows[0], rows[1]
	if latest.Status != clusterhealthcheck.StatusUNREACHABLE || !strings.Contains(latest.Message, "CLUSTER_UNHEALTHY") ||
		latest.KubevirtVersion != "" || !latest.CheckedAt.After(first.CheckedAt) {
		t.Errorf("latest %+v", latest)
	}
	if first.Status != clusterhealthcheck.StatusHEALTHY || first.Message != "" || first.KubevirtVersion != "v1.9.0-sim" || first.DurationMs < 0 {
		t.Errorf("first %+v", first)
	}
}

func TestHistoryIsPruned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := f.simCluster(t, "sim-a", nil)
	gone := f.simCluster(t, "gone", nil)
	f.store.Ent.Cluster.UpdateOneID(gone.ID).SetEnabled(false).SetDeletedAt(time.Now()).ExecX(ctx)
	// Five recent checks of sim-a, one of them older than the age limit, and an old
	// check of a deleted cluster that is no longer checked.
	now := time.Now()
	for i, age := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 9 * 24 * time.Hour} {
		err := catalog.RecordHealthCheck(ctx, f.store.Ent, catalog.HealthCheck{ClusterID: a.ID, CheckedAt: now.Add(-age),
			Status: clusterhealthcheck.StatusHEALTHY, Message: fmt.Sprint("old ", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := catalog.RecordHealthCheck(ctx, f.store.Ent, catalog.HealthCheck{ClusterID: gone.ID, CheckedAt: now.Add(-8 * 24 * time.Hour),
		Status: clusterhealthcheck.StatusHEALTHY})
	if err != nil {
		t.Fatal(err)
	}
	f.checker.HistoryKeep = 3
	if _, err := f.checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	rows := history(t, f, a)
	if len(rows) != 3 || rows[0].Message != "" || rows[1].Message != "old 0" || rows[2].Message != "old 1" {
		var got []string
		for _, r := range rows {
			got = append(got, r.Message)
		}
		t.Errorf("kept %q, want the new check and the two newest before it", got)
	}
	if n := len(history(t, f, gone)); n != 0 {
		t.Errorf("%d checks of a deleted cluster older than 7 days kept", n)
	}
	if row := f.get(t, gone); row.LastCheckedAt != nil {
		t.Error("a deleted cluster was checked")
	}
}

// A real cluster's check stores the Kubernetes version and SR-IOV networks it reports.
func TestDetectedVersionsAndSRIOVAreStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	c := f.simCluster(t, "sim-a", nil)
	hw := sim.New(sim.Options{Capabilities: kube.Capabilities{KubernetesVersion: "v1.37.2", KubeVirtVersion: "v1.9.0",
		SRIOVNetworks: []string{"intel.com/sriov_netdevice"}}})
	t.Cleanup(hw.Close)
	checker := &clusterhealth.Checker{Store: f.store, Clusters: drifted{hw}}
	if _, err := checker.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	row := f.get(t, c)
	if row.KubernetesVersion != "v1.37.2" || !slices.Equal(row.SriovNetworks, []string{"intel.com/sriov_netdevice"}) {
		t.Errorf("stored %+v", row)
	}
	if h := history(t, f, c); len(h) != 1 || h[0].KubernetesVersion != "v1.37.2" || h[0].KubevirtVersion != "v1.9.0" {
		t.Errorf("history %+v", h)
	}
}
