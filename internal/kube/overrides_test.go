package kube_test

import (
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/kube"
)

func overrideSpec(overrides map[string]any) kube.VMSpec {
	return kube.VMSpec{
		Ref:           kube.VMRef{Namespace: "ns", Name: "vm"},
		CPUCores:      2,
		MemoryRequest: "2Gi",
		MemoryLimit:   "2Gi",
		Image:         "quay.io/containerdisks/ubuntu:24.04",
		Running:       true,
		Overrides:     overrides,
	}
}

func TestOverridesReachTheRenderedVM(t *testing.T) {
	t.Parallel()
	spec := overrideSpec(map[string]any{
		"spec.template.spec.domain.cpu.model":                 "host-passthrough",
		"spec.template.spec.domain.cpu.cores":                 float64(8),
		"spec.template.spec.domain.devices.gpus.0.name":       "gpu1",
		"spec.template.spec.domain.devices.gpus.0.deviceName": "nvidia.com/GA102GL_A10",
		"spec.template.spec.evictionStrategy":                 "LiveMigrate",
	})
	if err := kube.ValidateSpec(spec); err != nil {
		t.Fatal(err)
	}
	vm := kube.RenderVM(spec)
	d := vm.Spec.Template.Spec.Domain
	if d.CPU.Model != "host-passthrough" || d.CPU.Cores != 8 {
		t.Errorf("cpu = %+v", d.CPU)
	}
	if len(d.Devices.GPUs) != 1 || d.Devices.GPUs[0].DeviceName != "nvidia.com/GA102GL_A10" {
		t.Errorf("gpus = %+v", d.Devices.GPUs)
	}
	if es := vm.Spec.Template.Spec.EvictionStrategy; es == nil || *es != "LiveMigrate" {
		t.Errorf("eviction strategy = %v", es)
	}
	// What the request owns is untouched.
	if d.Resources.Requests.Memory().String() != "2Gi" || vm.Name != "vm" || len(vm.Spec.Template.Spec.Volumes) == 0 {
		t.Errorf("platform fields changed: %+v", vm)
	}
}

func TestOverridesAreValidatedAgainstKubeVirtTypes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		overrides map[string]any
		want      string
	}{
		"typo":            {map[string]any{"spec.template.spec.domain.cpu.dedicatdCpuPlacement": true}, `"dedicatdCpuPlacement" does not exist`},
		"wrong type":      {map[string]any{"spec.template.spec.domain.cpu.cores": "eight"}, "must be uint32"},
		"outside":         {map[string]any{"metadata.labels.x": "y"}, "only paths under"},
		"run strategy":    {map[string]any{"spec.runStrategy": "Always"}, "only paths under"},
		"resources":       {map[string]any{"spec.template.spec.domain.resources.requests.memory": "64Gi"}, "set by the platform"},
		"volumes":         {map[string]any{"spec.template.spec.volumes.0.name": "x"}, "set by the platform"},
		"whole domain":    {map[string]any{"spec.template.spec.domain": map[string]any{}}, "would replace"},
		"index too large": {map[string]any{"spec.template.spec.domain.devices.gpus.3.name": "g"}, "out of range"},
		"into a scalar":   {map[string]any{"spec.template.spec.hostname.x": "y"}, "inside a string"},
	} {
		err := kube.ValidateSpec(overrideSpec(tc.overrides))
		if err == nil || !kube.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want permanent mentioning %q", name, err, tc.want)
		}
	}
}
