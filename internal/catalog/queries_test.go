package catalog_test

import (
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/catalog"
)

func names(cs []*ent.Cluster) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEligibleClusters(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c := s.Store.Ent
	mk := func(name string, env cluster.Environment, weight int, status cluster.Status, enabled bool, gpus, pages []string, dedicated bool) {
		c.Cluster.Create().SetName(name).SetEnvironment(env).SetProvider(cluster.ProviderSim).SetSchedulingWeight(weight).
			SetStatus(status).SetEnabled(enabled).SetGpuDevices(gpus).SetHugepages(pages).SetDedicatedCPU(dedicated).ExecX(ctx)
	}
	a10 := "nvidia.com/GA102GL_A10"
	mk("plain-b", cluster.EnvironmentTest, 50, cluster.StatusHEALTHY, true, nil, nil, false)
	mk("plain-a", cluster.EnvironmentTest, 50, cluster.StatusHEALTHY, true, nil, nil, false)
	mk("big", cluster.EnvironmentTest, 100, cluster.StatusHEALTHY, true, []string{a10, "nvidia.com/TU104GL_T4"}, []string{"2Mi", "1Gi"}, true)
	mk("gpu-only", cluster.EnvironmentTest, 10, cluster.StatusHEALTHY, true, []string{a10}, nil, false)
	mk("sick", cluster.EnvironmentTest, 500, cluster.StatusUNHEALTHY, true, []string{a10}, []string{"2Mi"}, true)
	mk("unknown", cluster.EnvironmentTest, 500, cluster.StatusUNKNOWN, true, nil, nil, true)
	mk("off", cluster.EnvironmentTest, 500, cluster.StatusHEALTHY, false, []string{a10}, []string{"2Mi"}, true)
	mk("prod-1", cluster.EnvironmentProd, 100, cluster.StatusHEALTHY, true, []string{a10}, []string{"2Mi"}, true)

	size := func(mutate func(*ent.InstanceSize)) *ent.InstanceSize {
		sz := &ent.InstanceSize{Name: "x", CPUCores: 2, MemoryMib: 4096}
		mutate(sz)
		return sz
	}
	cases := []struct {
		name string
		env  string
		size *ent.InstanceSize
		want []string
	}{
		{"plain test size: weight desc then name", "test", size(func(*ent.InstanceSize) {}), []string{"big", "plain-a", "plain-b", "gpu-only"}},
		{"nil size", "test", nil, []string{"big", "plain-a", "plain-b", "gpu-only"}},
		{"gpu", "test", size(func(s *ent.InstanceSize) { s.GpuDevices = []schema.GPUDevice{{Name: "g", DeviceName: a10}} }), []string{"big", "gpu-only"}},
		{"two gpu kinds", "test", size(func(s *ent.InstanceSize) {
			s.GpuDevices = []schema.GPUDevice{{Name: "g1", DeviceName: a10}, {Name: "g2", DeviceName: "nvidia.com/TU104GL_T4"}}
		}), []string{"big"}},
		{"hugepages 1Gi", "test", size(func(s *ent.InstanceSize) { s.HugepagesSize = "1Gi" }), []string{"big"}},
		{"dedicated", "test", size(func(s *ent.InstanceSize) { s.DedicatedCPU = true }), []string{"big"}},
		{"unknown gpu", "test", size(func(s *ent.InstanceSize) { s.GpuDevices = []schema.GPUDevice{{Name: "g", DeviceName: "amd.com/gpu"}} }), []string{}},
		{"prod", "prod", size(func(s *ent.InstanceSize) { s.DedicatedCPU, s.HugepagesSize = true, "2Mi" }), []string{"prod-1"}},
		{"bad env", "staging", nil, []string{}},
	}
	for _, tc := range cases {
		got, err := catalog.EligibleClusters(ctx, c, tc.env, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(names(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, names(got), tc.want)
		}
	}
}

func TestResourcesAndLabel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		size                       ent.InstanceSize
		cpuReq, cpuLim, memReq, ml string
		label                      string
	}{
		{ent.InstanceSize{Name: "small", CPUCores: 1, MemoryMib: 2048}, "1", "1", "2Gi", "2Gi", "small (1 core, 2 GiB)"},
		{ent.InstanceSize{Name: "medium", CPUCores: 2, MemoryMib: 4096, CPUOvercommit: true, CPURequestMillis: 500},
			"500m", "2", "4Gi", "4Gi", "medium (2 cores, 4 GiB)"},
		{ent.InstanceSize{Name: "burst", CPUCores: 4, MemoryMib: 8192, CPUOvercommit: true, CPURequestMillis: 2000, MemOvercommit: true, MemRequestMib: 4096},
			"2", "4", "4Gi", "8Gi", "burst (4 cores, 8 GiB)"},
		{ent.InstanceSize{Name: "odd", CPUCores: 2, MemoryMib: 1536, MemOvercommit: true, MemRequestMib: 1000},
			"2", "2", "1000Mi", "1536Mi", "odd (2 cores, 1.5 GiB)"},
		// A request recorded while overcommit is off is not applied.
		{ent.InstanceSize{Name: "stale", CPUCores: 2, MemoryMib: 2048, CPURequestMillis: 100, MemRequestMib: 100},
			"2", "2", "2Gi", "2Gi", "stale (2 cores, 2 GiB)"},
		{ent.InstanceSize{Name: "gpu-a10", CPUCores: 8, MemoryMib: 32768, GpuDevices: []schema.GPUDevice{{Name: "g", DeviceName: "nvidia.com/GA102GL_A10"}}},
			"8", "8", "32Gi", "32Gi", "gpu-a10 (8 cores, 32 GiB, 1 GPU)"},
	}
	for _, tc := range cases {
		cr, cl, mr, ml := catalog.Resources(&tc.size)
		if cr != tc.cpuReq || cl != tc.cpuLim || mr != tc.memReq || ml != tc.ml {
			t.Errorf("%s: Resources = %s/%s %s/%s, want %s/%s %s/%s", tc.size.Name, cr, cl, mr, ml, tc.cpuReq, tc.cpuLim, tc.memReq, tc.ml)
		}
		if got := catalog.SizeLabel(&tc.size); got != tc.label {
			t.Errorf("SizeLabel = %q, want %q", got, tc.label)
		}
	}
}

func TestEnabledListsForRequests(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	for _, in := range []catalog.NamespaceInput{{Name: "dev", Environment: "test"}, {Name: "qa", Environment: "test"}, {Name: "prod", Environment: "prod"}} {
		if _, _, err := s.CreateNamespace(ctx, admin, in); err != nil {
			t.Fatal(err)
		}
	}
	qa := s.Store.Ent.Namespace.Query().AllX(ctx)
	for _, ns := range qa {
		if ns.Name == "qa" {
			if _, err := s.SetNamespaceEnabled(ctx, admin, ns.ID, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := catalog.EnabledNamespaces(ctx, s.Store.Ent, []string{"test"})
	if len(got) != 1 || got[0].Name != "dev" {
		t.Errorf("test namespaces: %v", got)
	}
	got, _ = catalog.EnabledNamespaces(ctx, s.Store.Ent, []string{"test", "prod"})
	if len(got) != 2 || got[0].Name != "dev" || got[1].Name != "prod" {
		t.Errorf("all namespaces: %v", got)
	}
	if got, _ = catalog.EnabledNamespaces(ctx, s.Store.Ent, nil); len(got) != 0 {
		t.Errorf("no environments: %v", got)
	}
	b := validSize("b")
	b.SortOrder = 1
	a := validSize("a")
	a.SortOrder = 2
	off := validSize("off")
	off.Enabled = false
	for _, in := range []catalog.SizeInput{b, a, off} {
		if _, err := s.CreateSize(ctx, admin, in); err != nil {
			t.Fatal(err)
		}
	}
	sizes, _ := catalog.EnabledSizes(ctx, s.Store.Ent)
	if len(sizes) != 2 || sizes[0].Name != "b" || sizes[1].Name != "a" {
		t.Errorf("enabled sizes: %v", sizes)
	}
}
