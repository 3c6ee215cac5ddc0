package catalog_test

import (
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
)

var clusterOps = actor("ops", authz.ClusterManage)

func TestRegisterClusterValidates(t *testing.T) {
	t.Parallel()
	s := newService(t)
	base := catalog.ClusterInput{Name: "east-1", Environment: "test", Provider: "kubevirt", SchedulingWeight: 100}
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

func TestRegisterClusterStatusByProvider(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	real, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "east-1", Environment: "prod", Provider: "kubevirt",
		SchedulingWeight: 80, StorageClasses: []string{"ceph"}})
	if err != nil {
		t.Fatal(err)
	}
	if real.Status != cluster.StatusUNKNOWN || real.LastCheckedAt != nil || real.DefaultStorageClass != "ceph" {
		t.Errorf("kubevirt cluster: status %s checked %v default %q", real.Status, real.LastCheckedAt, real.DefaultStorageClass)
	}
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

func TestUpdateClusterKeepsNameAndAuditsChanges(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "east-1", Environment: "test", Provider: "kubevirt", SchedulingWeight: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err = s.UpdateCluster(ctx, clusterOps, c.ID, catalog.ClusterInput{Name: "renamed", Provider: "sim", Environment: "prod",
		SchedulingWeight: 30, StorageClasses: []string{"standard"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "east-1" || c.Provider != cluster.ProviderKubevirt || c.Environment != "prod" || c.SchedulingWeight != 30 || c.DefaultStorageClass != "standard" {
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
