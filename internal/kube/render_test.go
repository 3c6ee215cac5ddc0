package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

func fullSpec() VMSpec {
	return VMSpec{
		Ref:           VMRef{Namespace: "team-a", Name: "web-01"},
		Labels:        map[string]string{"kubevirt-shepherd.io/service": "svc-1"},
		Annotations:   map[string]string{"kubevirt-shepherd.io/ticket": "t-9"},
		CPUCores:      4,
		CPURequest:    "2",
		CPULimit:      "4",
		MemoryRequest: "4Gi",
		MemoryLimit:   "8Gi",
		DedicatedCPU:  true,
		HugepagesSize: "2Mi",
		GPUs:          []GPU{{Name: "gpu1", DeviceName: "nvidia.com/A100"}},
		DiskGB:        40,
		StorageClass:  "fast",
		PVCNamespace:  "images",
		PVCName:       "ubuntu-24",
		CloudInit:     "#cloud-config\nhostname: web-01\n",
		Running:       true,
	}
}

func TestRenderVMCarriesEveryInput(t *testing.T) {
	s := fullSpec()
	vm := RenderVM(s)

	if vm.Kind != "VirtualMachine" || vm.APIVersion != "kubevirt.io/v1" {
		t.Errorf("type meta = %s %s", vm.APIVersion, vm.Kind)
	}
	if vm.Namespace != "team-a" || vm.Name != "web-01" {
		t.Errorf("ref = %s/%s", vm.Namespace, vm.Name)
	}
	if vm.Labels["kubevirt-shepherd.io/service"] != "svc-1" || vm.Annotations["kubevirt-shepherd.io/ticket"] != "t-9" {
		t.Errorf("labels/annotations = %v %v", vm.Labels, vm.Annotations)
	}
	if vm.Spec.Template.ObjectMeta.Labels["kubevirt-shepherd.io/service"] != "svc-1" {
		t.Errorf("template labels = %v", vm.Spec.Template.ObjectMeta.Labels)
	}
	if vm.Spec.RunStrategy == nil || *vm.Spec.RunStrategy != kubevirtv1.RunStrategyAlways {
		t.Errorf("run strategy = %v", vm.Spec.RunStrategy)
	}
	d := vm.Spec.Template.Spec.Domain
	if d.CPU == nil || d.CPU.Cores != 4 || !d.CPU.DedicatedCPUPlacement {
		t.Errorf("cpu = %+v", d.CPU)
	}
	checkQ := func(name string, l corev1.ResourceList, r corev1.ResourceName, want string) {
		t.Helper()
		q, ok := l[r]
		if !ok || q.String() != want {
			t.Errorf("%s %s = %v (present %v), want %s", name, r, q.String(), ok, want)
		}
	}
	checkQ("requests", d.Resources.Requests, corev1.ResourceCPU, "2")
	checkQ("limits", d.Resources.Limits, corev1.ResourceCPU, "4")
	checkQ("requests", d.Resources.Requests, corev1.ResourceMemory, "4Gi")
	checkQ("limits", d.Resources.Limits, corev1.ResourceMemory, "8Gi")
	if d.Memory == nil || d.Memory.Hugepages == nil || d.Memory.Hugepages.PageSize != "2Mi" {
		t.Errorf("hugepages = %+v", d.Memory)
	}
	if len(d.Devices.GPUs) != 1 || d.Devices.GPUs[0].Name != "gpu1" || d.Devices.GPUs[0].DeviceName != "nvidia.com/A100" {
		t.Errorf("gpus = %+v", d.Devices.GPUs)
	}

	if len(vm.Spec.DataVolumeTemplates) != 1 {
		t.Fatalf("data volume templates = %d", len(vm.Spec.DataVolumeTemplates))
	}
	dv := vm.Spec.DataVolumeTemplates[0]
	if dv.Name != "web-01-rootdisk" {
		t.Errorf("dv name = %s", dv.Name)
	}
	if dv.Spec.Source == nil || dv.Spec.Source.PVC == nil || dv.Spec.Source.PVC.Namespace != "images" || dv.Spec.Source.PVC.Name != "ubuntu-24" {
		t.Errorf("dv source = %+v", dv.Spec.Source)
	}
	if dv.Spec.Storage == nil || dv.Spec.Storage.StorageClassName == nil || *dv.Spec.Storage.StorageClassName != "fast" {
		t.Errorf("storage class = %+v", dv.Spec.Storage)
	}
	checkQ("storage", dv.Spec.Storage.Resources.Requests, corev1.ResourceStorage, "40Gi")

	vols := map[string]kubevirtv1.Volume{}
	for _, v := range vm.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if v := vols[RootDiskName]; v.DataVolume == nil || v.DataVolume.Name != "web-01-rootdisk" {
		t.Errorf("root volume = %+v", v)
	}
	if v := vols[CloudInitName]; v.CloudInitNoCloud == nil || v.CloudInitNoCloud.UserData != s.CloudInit {
		t.Errorf("cloud-init volume = %+v", v)
	}
	disks := map[string]bool{}
	for _, dk := range d.Devices.Disks {
		disks[dk.Name] = true
	}
	if !disks[RootDiskName] || !disks[CloudInitName] {
		t.Errorf("disks = %v", disks)
	}
}

func TestRenderVMContainerDiskHalted(t *testing.T) {
	s := VMSpec{Ref: VMRef{Namespace: "ns", Name: "vm"}, Image: "quay.io/containerdisks/fedora:40", Running: false}
	vm := RenderVM(s)
	if *vm.Spec.RunStrategy != kubevirtv1.RunStrategyHalted {
		t.Errorf("run strategy = %v", *vm.Spec.RunStrategy)
	}
	if len(vm.Spec.DataVolumeTemplates) != 0 {
		t.Errorf("unexpected data volume templates")
	}
	vols := vm.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].ContainerDisk == nil || vols[0].ContainerDisk.Image != s.Image {
		t.Errorf("volumes = %+v", vols)
	}
	if vm.Spec.Template.Spec.Domain.CPU != nil || vm.Spec.Template.Spec.Domain.Memory != nil {
		t.Errorf("cpu/memory should be unset when not requested")
	}
}

func TestRenderVMDoesNotAliasInputMaps(t *testing.T) {
	s := fullSpec()
	vm := RenderVM(s)
	vm.Labels["x"] = "y"
	if _, ok := s.Labels["x"]; ok {
		t.Fatal("rendered labels alias the spec's map")
	}
}

func TestValidateSpec(t *testing.T) {
	ok := fullSpec()
	if err := ValidateSpec(ok); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	bad := []func(*VMSpec){
		func(s *VMSpec) { s.Ref.Name = "" },
		func(s *VMSpec) { s.MemoryRequest = "lots" },
		func(s *VMSpec) { s.CPUCores = -1 },
		func(s *VMSpec) { s.Image, s.PVCName, s.DiskGB = "", "", 0 },
	}
	for i, mut := range bad {
		s := fullSpec()
		mut(&s)
		err := ValidateSpec(s)
		if !IsPermanent(err) {
			t.Errorf("case %d: err = %v, want permanent", i, err)
		}
	}
}
