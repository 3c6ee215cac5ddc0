package admin

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseSizeForm(t *testing.T) {
	form := url.Values{"name": {" medium "}, "cpu_cores": {"4"}, "memory_gib": {"1.5"}, "cpu_overcommit": {"on"}, "cpu_request": {"500m"},
		"mem_request_gib": {"junk"}, // ignored: memory overcommit is off
		"gpu_name":        {"", "gpu2"}, "gpu_device": {"", "nvidia.com/A10"}, "disk_default_gb": {"100"}, "disk_min_gb": {"50"},
		"disk_max_gb": {"500"}, "enabled": {"on"}}
	f, in, errs := parseSizeForm(form)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	if in.Name != "medium" || in.CPUCores != 4 || in.MemoryMiB != 1536 || in.CPURequestMillis != 500 || in.MemRequestMiB != 0 || !in.Enabled {
		t.Errorf("input %+v", in)
	}
	if len(in.GPUDevices) != 1 || in.GPUDevices[0].Name != "gpu2" {
		t.Errorf("gpus %+v (blank rows are skipped)", in.GPUDevices)
	}
	if len(f.GPUs) != gpuRows || f.GPUs[1].DeviceName != "nvidia.com/A10" {
		t.Errorf("form rows %+v (kept in place, padded to %d)", f.GPUs, gpuRows)
	}

	_, _, errs = parseSizeForm(url.Values{"cpu_cores": {"2.5"}, "memory_gib": {"0.1"}, "mem_overcommit": {"on"}, "mem_request_gib": {""},
		"disk_max_gb": {"lots"}})
	for _, field := range []string{"cpu_cores", "memory_gib", "mem_request_gib", "disk_max_gb"} {
		if errs[field] == "" {
			t.Errorf("no error for %s (%v)", field, errs)
		}
	}
	if errs["memory_gib"] != "Use a value that comes to whole MiB or millicores, e.g. 0.5 or 1.25." {
		t.Errorf("0.1 GiB: %q", errs["memory_gib"])
	}
}

func TestParseSizeFormOverrides(t *testing.T) {
	form := url.Values{"cpu_cores": {"2"}, "memory_gib": {"4"}, "spec_overrides": {` {"spec.template.spec.evictionStrategy": "LiveMigrate"} `},
		"dryrun_cluster": {"c1"}}
	f, in, errs := parseSizeForm(form)
	if len(errs) != 0 || in.SpecOverrides["spec.template.spec.evictionStrategy"] != "LiveMigrate" || f.DryRunCluster != "c1" {
		t.Fatalf("parsed %v %v %+v", errs, in.SpecOverrides, f)
	}
	if back := sizeForm("", in).SpecOverrides; back != "{\n  \"spec.template.spec.evictionStrategy\": \"LiveMigrate\"\n}" {
		t.Errorf("shown as %q", back)
	}
	form.Set("spec_overrides", `{"spec.template.spec.evictionStrategy": LiveMigrate}`)
	f, in, errs = parseSizeForm(form)
	if !strings.Contains(errs["spec_overrides"], "not valid JSON") || in.SpecOverrides != nil ||
		f.SpecOverrides != `{"spec.template.spec.evictionStrategy": LiveMigrate}` {
		t.Errorf("bad JSON: %v, kept %q", errs, f.SpecOverrides)
	}
}
