package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
)

func validSize(name string) catalog.SizeInput {
	in := catalog.NewSizeInput()
	in.Name = name
	return in
}

func TestSizeValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*catalog.SizeInput)
		field  string
		want   string
	}{
		{"bad name", func(in *catalog.SizeInput) { in.Name = "Medium" }, "name", "lower-case"},
		{"no cores", func(in *catalog.SizeInput) { in.CPUCores = 0 }, "cpu_cores", "from 1 to 256"},
		{"cpu request equals limit", func(in *catalog.SizeInput) { in.CPUOvercommit, in.CPURequestMillis = true, 2000 }, "cpu_request", "less than the limit"},
		{"cpu request zero", func(in *catalog.SizeInput) { in.CPUOvercommit = true }, "cpu_request", "more than 0"},
		{"mem request above", func(in *catalog.SizeInput) { in.MemOvercommit, in.MemRequestMiB = true, 8192 }, "mem_request_gib", "less than the limit (4 GiB)"},
		{"1Gi pages need whole GiB", func(in *catalog.SizeInput) { in.HugepagesSize, in.MemoryMiB = "1Gi", 1536 }, "memory_gib", "whole number of GiB"},
		{"hugepages no overcommit", func(in *catalog.SizeInput) { in.HugepagesSize, in.MemOvercommit, in.MemRequestMiB = "2Mi", true, 1024 }, "mem_request_gib", "hugepages"},
		{"odd hugepages", func(in *catalog.SizeInput) { in.HugepagesSize = "4Ki" }, "hugepages_size", "None, 2Mi or 1Gi"},
		{"disk min 0", func(in *catalog.SizeInput) { in.DiskMinGB = 0 }, "disk_min_gb", "at least 1"},
		{"default below min", func(in *catalog.SizeInput) { in.DiskDefaultGB = 40 }, "disk_default_gb", "below the minimum"},
		{"default above max", func(in *catalog.SizeInput) { in.DiskDefaultGB = 600 }, "disk_default_gb", "above the maximum"},
		{"gpu half row", func(in *catalog.SizeInput) { in.GPUDevices = []schema.GPUDevice{{Name: "gpu1"}} }, "gpu_devices", "Row 1: enter both"},
		{"gpu bad device", func(in *catalog.SizeInput) {
			in.GPUDevices = []schema.GPUDevice{{Name: "gpu1", DeviceName: "nvidia.com/A10"}, {Name: "gpu2", DeviceName: "A10"}}
		}, "gpu_devices", "Row 2: the device name"},
		{"gpu twice", func(in *catalog.SizeInput) {
			in.GPUDevices = []schema.GPUDevice{{Name: "gpu1", DeviceName: "nvidia.com/A10"}, {Name: "gpu1", DeviceName: "nvidia.com/A10"}}
		}, "gpu_devices", "used twice"},
		{"five gpus", func(in *catalog.SizeInput) { in.GPUDevices = make([]schema.GPUDevice, 5) }, "gpu_devices", "At most 4"},
	}
	for _, tc := range cases {
		in := validSize("medium")
		tc.mutate(&in)
		err := in.Validate()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if fe := fieldErrors(t, err); !strings.Contains(fe[tc.field], tc.want) {
			t.Errorf("%s: %s error %q, want %q (all %v)", tc.name, tc.field, fe[tc.field], tc.want, fe)
		}
	}
	if err := validSize("medium").Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestDedicatedCPUWithOvercommitIsBlocked(t *testing.T) {
	t.Parallel()
	s := newService(t)
	for _, mutate := range []func(*catalog.SizeInput){
		func(in *catalog.SizeInput) { in.CPUOvercommit, in.CPURequestMillis = true, 1000 },
		func(in *catalog.SizeInput) { in.MemOvercommit, in.MemRequestMiB = true, 2048 },
	} {
		in := validSize("dedicated")
		in.DedicatedCPU = true
		mutate(&in)
		_, err := s.CreateSize(t.Context(), admin, in)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != "DEDICATED_CPU_REQUIRES_GUARANTEED_QOS" {
			t.Fatalf("want DEDICATED_CPU_REQUIRES_GUARANTEED_QOS, got %v", err)
		}
		if fe := fieldErrors(t, err); !strings.Contains(fe["dedicated_cpu"], "Guaranteed QoS") {
			t.Errorf("field error %v", fe)
		}
	}
	if n := s.Store.Ent.InstanceSize.Query().CountX(t.Context()); n != 0 {
		t.Fatalf("%d sizes stored", n)
	}
}

func TestCreateAndUpdateSize(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	in := validSize("gpu-a10")
	in.CPUCores, in.MemoryMiB = 8, 32*1024
	in.CPUOvercommit, in.CPURequestMillis = true, 4000
	in.MemRequestMiB = 999 // ignored: memory overcommit is off
	in.GPUDevices = []schema.GPUDevice{{Name: "gpu1", DeviceName: "nvidia.com/GA102GL_A10"}}
	sz, err := s.CreateSize(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if !sz.RequiresGpu || sz.MemRequestMib != 0 || sz.CPURequestMillis != 4000 || sz.DiskDefaultGB != 100 {
		t.Errorf("stored %+v", sz)
	}
	if _, err := s.CreateSize(ctx, admin, validSize("gpu-a10")); !strings.Contains(fieldErrors(t, err)["name"], "taken") {
		t.Errorf("duplicate: %v", err)
	}
	upd := catalog.SizeInputFrom(sz)
	upd.Name = "ignored"
	upd.GPUDevices = nil
	upd.CPUOvercommit = false
	sz, err = s.UpdateSize(ctx, admin, sz.ID, upd)
	if err != nil {
		t.Fatal(err)
	}
	if sz.Name != "gpu-a10" || sz.RequiresGpu || len(sz.GpuDevices) != 0 || sz.CPURequestMillis != 0 {
		t.Errorf("updated %+v", sz)
	}
	if sz, err = s.SetSizeEnabled(ctx, admin, sz.ID, false); err != nil || sz.Enabled {
		t.Fatal(err)
	}
	rows := audits(t, s, sz.ID.String())
	if got := strings.Join(actions(rows), ","); got != "instance_size.create,instance_size.update,instance_size.disable" {
		t.Fatalf("audit %s", got)
	}
	old, nw := rows[1].Details["old"].(map[string]any), rows[1].Details["new"].(map[string]any)
	if old["cpu_request"] != "4" || nw["cpu_request"] != "8" || old["cpu_overcommit"] != true || len(old["gpu_devices"].([]any)) != 1 {
		t.Errorf("update details old=%v new=%v", old, nw)
	}
	if _, err := s.UpdateSize(ctx, operator, sz.ID, upd); code(err) != domain.CodeForbidden {
		t.Errorf("operator update: %v", err)
	}
}
