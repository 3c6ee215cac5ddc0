package catalog_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

var tunedOverrides = map[string]any{
	"spec.template.spec.domain.cpu.model": "host-passthrough",
	"spec.template.spec.evictionStrategy": "LiveMigrate",
}

func TestDryRunOnASimulatedCluster(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	sim, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "sim-1", Environment: "test", Provider: "sim", SchedulingWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: "team-a", Environment: "test"}); err != nil {
		t.Fatal(err)
	}
	in := validSize("") // a new size may be tested before it has a name
	in.CPUCores, in.MemoryMiB = 4, 8192
	in.MemOvercommit, in.MemRequestMiB = true, 4096
	in.SpecOverrides = tunedOverrides
	r, err := s.DryRunSize(ctx, admin, in, sim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Valid || !r.Simulated || r.Cluster != "sim-1" || r.Namespace != "team-a" || !strings.HasPrefix(r.VMName, "shepherd-dryrun-") || r.Template != "" {
		t.Errorf("result %+v", r)
	}
	p := r.Preview
	if p.CPUCores != 4 || p.CPULimit != "4" || p.MemRequest != "4Gi" || p.MemLimit != "8Gi" || len(p.GPUs) != 0 {
		t.Errorf("preview %+v", p)
	}
	if len(p.Overrides) != 2 || p.Overrides[0] != (catalog.AppliedOverride{Path: "spec.template.spec.domain.cpu.model", Value: `"host-passthrough"`}) ||
		p.Overrides[1].Value != `"LiveMigrate"` {
		t.Errorf("applied overrides %+v", p.Overrides)
	}

	// Stage 1 runs first: a typo never reaches a cluster, and nothing is saved either way.
	in.SpecOverrides = map[string]any{"spec.template.spec.domain.cpu.dedicatdCpuPlacement": true}
	_, err = s.DryRunSize(ctx, admin, in, sim.ID)
	if msg := fieldErrors(t, err)["spec_overrides"]; !strings.Contains(msg, "dedicatdCpuPlacement") {
		t.Errorf("typo: %q", msg)
	}
	if _, err := s.DryRunSize(ctx, admin, validSize("x"), uuid.Nil); !strings.Contains(fieldErrors(t, err)["dryrun_cluster"], "Choose the cluster") {
		t.Errorf("no cluster: %v", err)
	}
	if _, err := s.DryRunSize(ctx, admin, validSize("x"), uuid.New()); code(err) != domain.CodeNotFound {
		t.Errorf("unknown cluster: %v", err)
	}
	if _, err := s.DryRunSize(ctx, operator, validSize("x"), sim.ID); code(err) != domain.CodeForbidden {
		t.Errorf("operator: %v", err)
	}
	if n := s.Store.Ent.InstanceSize.Query().CountX(ctx); n != 0 {
		t.Errorf("%d sizes stored by tests", n)
	}
}

// TestDryRunOnTheTestCluster has the run's real API server judge sample VMs by a
// server-side dry-run apply: valid overrides pass; a namespace the cluster lacks is
// reported in the cluster's words, with a hint.
func TestDryRunOnTheTestCluster(t *testing.T) {
	shared := testcluster.FromEnv(t)
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c, err := s.RegisterCluster(ctx, clusterOps, kubeInput("kube-dry", sharedKubeconfig(t, shared.KubeconfigPath)))
	if err != nil {
		t.Fatal(err)
	}
	in := validSize("tuned")
	in.SpecOverrides = tunedOverrides
	r, err := s.DryRunSize(ctx, admin, in, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// No namespace is registered for the environment, so the sample goes to "default".
	if !r.Valid || r.Simulated || r.Namespace != "default" || r.KubeVirtVersion != testcluster.KubeVirtVersion || r.Problem != "" {
		t.Fatalf("dry run on the test cluster: %+v", r)
	}
	if len(r.Preview.Overrides) != 2 || r.Preview.CPUCores != 2 {
		t.Errorf("preview %+v", r.Preview)
	}

	if _, _, err := s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: "not-on-kube", Environment: "test"}); err != nil {
		t.Fatal(err)
	}
	r, err = s.DryRunSize(ctx, admin, in, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Valid || r.Namespace != "not-on-kube" || !strings.Contains(r.Problem, `namespaces "not-on-kube" not found`) ||
		!strings.Contains(r.Hint, "kubectl create namespace not-on-kube") {
		t.Errorf("missing namespace: %+v", r)
	}
}
