package catalog_test

import (
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
)

var clusterOps = actor("ops", authz.ClusterManage)

func TestRegisterClusterValidates(t *testing.T) {
	t.Parallel()
	s := newService(t)
	base := catalog.ClusterInput{Name: "east-1", Environment: "test", Provider: "sim", SchedulingWeight: 100}
	cases := []struct {
		mutate func(*catalog.ClusterInput)
		field  string
		want   string
	}{
		{func(in *catalog.ClusterInput) { in.Name = "East_1" }, "name", "lower-case"},
		{func(in *catalog.ClusterInput) { in.Provider = "vmware" }, "provider", "sim or kubevirt"},
		{func(in *catalog.ClusterInput) { in.SchedulingWeight = -1 }, "scheduling_weight", "0 to 1000"},
		{func(in *catalog.ClusterInput) { in.StorageClasses = []string{"a", "b"} }, "default_storage_class", "Choose which"},
		{func(in *catalog.ClusterInput) { in.StorageClasses, in.DefaultStorageClass = []string{"a"}, "b" }, "default_storage_class", "one of the storage classes"},
		{func(in *catalog.ClusterInput) { in.StorageClasses = []string{"Fast SSD"} }, "storage_classes", "not a valid"},
		{func(in *catalog.ClusterInput) { in.GPUDevices = []string{"A10"} }, "gpu_devices", "resource name"},
		{func(in *catalog.ClusterInput) { in.Hugepages = []string{"4Ki"} }, "hugepages", "2Mi and 1Gi"},
		{func(in *catalog.ClusterInput) { in.Provider = "kubevirt" }, "kubeconfig", "Upload the cluster's kubeconfig"},
	}
	for _, tc := range cases {
		in := base
		tc.mutate(&in)
		_, err := s.RegisterCluster(t.Context(), clusterOps, in)
		if fe := fieldErrors(t, err); !strings.Contains(fe[tc.field], tc.want) {
			t.Errorf("%+v: %s error %q, want %q (%v)", in, tc.field, fe[tc.field], tc.want, fe)
		}
	}
}

func TestRegisterSimulatedCluster(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	sim, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "sim-1", Environment: "test", Provider: "sim",
		SchedulingWeight: 10, StorageClasses: []string{"standard", "fast"}, DefaultStorageClass: "fast",
		GPUDevices: []string{"nvidia.com/GA102GL_A10"}, Hugepages: []string{"2Mi"}, DedicatedCPU: true})
	if err != nil {
		t.Fatal(err)
	}
	if sim.Status != cluster.StatusHEALTHY || sim.LastCheckedAt == nil || !sim.DedicatedCPU || sim.GpuDevices[0] != "nvidia.com/GA102GL_A10" {
		t.Errorf("sim cluster: %+v", sim)
	}
	if _, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "sim-1", Environment: "test", Provider: "sim"}); !strings.Contains(fieldErrors(t, err)["name"], "taken") {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := s.RegisterCluster(ctx, actor("tmpl", authz.TemplateManage), catalog.ClusterInput{Name: "x", Environment: "test", Provider: "sim"}); code(err) != domain.CodeForbidden {
		t.Errorf("template manager registering a cluster: %v", err)
	}
	if got := actions(audits(t, s, sim.ID.String())); len(got) != 1 || got[0] != "cluster.register" {
		t.Errorf("audit %v", got)
	}
}

// realCluster records a kubevirt cluster as registration leaves it, without a cluster
// behind it: for the tests of editing, which never call the cluster.
func realCluster(t *testing.T, s *catalog.Service, name string) *ent.Cluster {
	t.Helper()
	sealed, err := s.Box.Seal(kubeconfig("https://127.0.0.1:6443", tokenUser))
	if err != nil {
		t.Fatal(err)
	}
	return s.Store.Ent.Cluster.Create().SetName(name).SetEnvironment("test").SetProvider("kubevirt").SetStatus("HEALTHY").
		SetKubeconfigSealed(sealed).SetAPIServerURL("https://127.0.0.1:6443").SetAuthMethod("token").SetKubeconfigContext("c").
		SetStorageClasses([]string{"ceph", "local"}).SetDefaultStorageClass("ceph").SetGpuDevices([]string{"nvidia.com/L4"}).
		SaveX(t.Context())
}

func TestUpdateClusterKeepsNameAndAuditsChanges(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "east-1", Environment: "test", Provider: "sim", SchedulingWeight: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err = s.UpdateCluster(ctx, clusterOps, c.ID, catalog.ClusterInput{Name: "renamed", Provider: "kubevirt", Environment: "prod",
		SchedulingWeight: 30, StorageClasses: []string{"standard"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "east-1" || c.Provider != cluster.ProviderSim || c.Environment != "prod" || c.SchedulingWeight != 30 || c.DefaultStorageClass != "standard" {
		t.Fatalf("updated %+v", c)
	}
	if c, err = s.SetClusterEnabled(ctx, clusterOps, c.ID, false); err != nil || c.Enabled {
		t.Fatal(err)
	}
	rows := audits(t, s, c.ID.String())
	if got := strings.Join(actions(rows), ","); got != "cluster.register,cluster.update,cluster.disable" {
		t.Fatalf("audit %s", got)
	}
	old, nw := rows[1].Details["old"].(map[string]any), rows[1].Details["new"].(map[string]any)
	if old["environment"] != "test" || nw["environment"] != "prod" || nw["scheduling_weight"] != float64(30) {
		t.Errorf("update details %v", rows[1].Details)
	}
	if _, ok := nw["dedicated_cpu"]; ok {
		t.Errorf("unchanged field recorded: %v", nw)
	}
	// Validation on update re-renders too, never a 500.
	_, err = s.UpdateCluster(ctx, clusterOps, c.ID, catalog.ClusterInput{Environment: "prod", SchedulingWeight: 5000})
	if fe := fieldErrors(t, err); fe["scheduling_weight"] == "" {
		t.Errorf("weight 5000 accepted: %v", fe)
	}
}

// A real cluster's capabilities are detected: an edit changes environment, weight and
// the default among the detected storage classes, and nothing the cluster reports.
func TestUpdateRealClusterKeepsDetectedCapabilities(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c := realCluster(t, s, "east-1")
	_, err := s.UpdateCluster(ctx, clusterOps, c.ID, catalog.ClusterInput{Environment: "test", SchedulingWeight: 100, DefaultStorageClass: "nfs"})
	if fe := fieldErrors(t, err); !strings.Contains(fe["default_storage_class"], "detected on the cluster") {
		t.Errorf("undetected default accepted: %v", fe)
	}
	c, err = s.UpdateCluster(ctx, clusterOps, c.ID, catalog.ClusterInput{Environment: "prod", SchedulingWeight: 7, DefaultStorageClass: "local",
		StorageClasses: []string{"typed"}, GPUDevices: []string{"nvidia.com/H100"}, DedicatedCPU: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultStorageClass != "local" || strings.Join(c.StorageClasses, ",") != "ceph,local" || c.GpuDevices[0] != "nvidia.com/L4" ||
		c.DedicatedCPU || c.Environment != "prod" || c.SchedulingWeight != 7 {
		t.Errorf("updated %+v", c)
	}
}
