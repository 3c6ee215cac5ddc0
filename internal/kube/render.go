package kube

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

// Names of the volumes/disks RenderVM creates. Stable names matter: under
// server-side apply a renamed list entry is a delete plus an add.
const (
	RootDiskName  = "rootdisk"
	CloudInitName = "cloudinitdisk"
)

// RootDataVolumeName is the DataVolume (and PVC) backing a non-containerdisk VM.
func RootDataVolumeName(vmName string) string { return vmName + "-" + RootDiskName }

// ValidateSpec rejects specs the renderer cannot express, so a bad quantity
// fails the ticket permanently instead of being silently dropped by RenderVM.
func ValidateSpec(spec VMSpec) error {
	if err := ValidateRef(spec.Ref); err != nil {
		return err
	}
	if spec.CPUCores < 0 || spec.DiskGB < 0 {
		return NewPermanent(CodeValidationFailed, "cpu cores and disk size must not be negative")
	}
	for field, q := range map[string]string{
		"cpu request": spec.CPURequest, "cpu limit": spec.CPULimit,
		"memory request": spec.MemoryRequest, "memory limit": spec.MemoryLimit,
		"hugepages size": spec.HugepagesSize,
	} {
		if q == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			return NewPermanent(CodeValidationFailed, fmt.Sprintf("%s %q: %v", field, q, err))
		}
	}
	if spec.Image == "" && spec.PVCName == "" && spec.DiskGB == 0 {
		return NewPermanent(CodeValidationFailed, "a VM needs a containerdisk image, a source PVC or a disk size")
	}
	if _, err := ApplyOverrides(renderBase(spec), spec.Overrides); err != nil {
		return err
	}
	return nil
}

// RenderVM builds the KubeVirt VirtualMachine that server-side apply sends: the
// request rendered (renderBase), then the instance size's overrides set on it. It is
// pure so the real provider and the simulator render identically and the rendered
// object can be unit-tested and shown in dry-run previews. Invalid quantities and
// overrides are skipped; call ValidateSpec first.
func RenderVM(spec VMSpec) *kubevirtv1.VirtualMachine {
	base := renderBase(spec)
	if vm, err := ApplyOverrides(base, spec.Overrides); err == nil {
		return vm
	}
	return base
}

func renderBase(spec VMSpec) *kubevirtv1.VirtualMachine {
	runStrategy := kubevirtv1.RunStrategyHalted
	if spec.Running {
		runStrategy = kubevirtv1.RunStrategyAlways
	}

	domain := kubevirtv1.DomainSpec{
		Resources: kubevirtv1.ResourceRequirements{
			Requests: quantities(map[corev1.ResourceName]string{
				corev1.ResourceCPU: spec.CPURequest, corev1.ResourceMemory: spec.MemoryRequest,
			}),
			Limits: quantities(map[corev1.ResourceName]string{
				corev1.ResourceCPU: spec.CPULimit, corev1.ResourceMemory: spec.MemoryLimit,
			}),
		},
		Devices: kubevirtv1.Devices{
			Interfaces: []kubevirtv1.Interface{*kubevirtv1.DefaultMasqueradeNetworkInterface()},
		},
	}
	if spec.CPUCores > 0 || spec.DedicatedCPU {
		domain.CPU = &kubevirtv1.CPU{Cores: uint32(max(spec.CPUCores, 0)), DedicatedCPUPlacement: spec.DedicatedCPU}
	}
	if spec.HugepagesSize != "" {
		domain.Memory = &kubevirtv1.Memory{Hugepages: &kubevirtv1.Hugepages{PageSize: spec.HugepagesSize}}
	}
	for _, g := range spec.GPUs {
		domain.Devices.GPUs = append(domain.Devices.GPUs, kubevirtv1.GPU{Name: g.Name, DeviceName: g.DeviceName})
	}

	virtio := kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}
	domain.Devices.Disks = append(domain.Devices.Disks, kubevirtv1.Disk{Name: RootDiskName, DiskDevice: virtio})

	var volumes []kubevirtv1.Volume
	var dvTemplates []kubevirtv1.DataVolumeTemplateSpec
	if spec.Image != "" {
		volumes = append(volumes, kubevirtv1.Volume{Name: RootDiskName, VolumeSource: kubevirtv1.VolumeSource{
			ContainerDisk: &kubevirtv1.ContainerDiskSource{Image: spec.Image},
		}})
	} else {
		dvName := RootDataVolumeName(spec.Ref.Name)
		dvTemplates = append(dvTemplates, renderDataVolume(spec, dvName))
		volumes = append(volumes, kubevirtv1.Volume{Name: RootDiskName, VolumeSource: kubevirtv1.VolumeSource{
			DataVolume: &kubevirtv1.DataVolumeSource{Name: dvName},
		}})
	}
	if spec.CloudInit != "" {
		domain.Devices.Disks = append(domain.Devices.Disks, kubevirtv1.Disk{Name: CloudInitName, DiskDevice: virtio})
		volumes = append(volumes, kubevirtv1.Volume{Name: CloudInitName, VolumeSource: kubevirtv1.VolumeSource{
			CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{UserData: spec.CloudInit},
		}})
	}

	return &kubevirtv1.VirtualMachine{
		TypeMeta: metav1.TypeMeta{
			APIVersion: kubevirtv1.GroupVersion.String(),
			Kind:       kubevirtv1.VirtualMachineGroupVersionKind.Kind,
		},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   spec.Ref.Namespace,
			Name:        spec.Ref.Name,
			Labels:      maps.Clone(spec.Labels),
			Annotations: maps.Clone(spec.Annotations),
		},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy:         &runStrategy,
			DataVolumeTemplates: dvTemplates,
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				// The VMI inherits the labels so selectors (services, network
				// policies, adoption scans) see the same identity as the VM.
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(spec.Labels)},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Domain:   domain,
					Networks: []kubevirtv1.Network{*kubevirtv1.DefaultPodNetwork()},
					Volumes:  volumes,
				},
			},
		},
	}
}

// renderDataVolume clones the source PVC when one is given, else creates a
// blank disk; size and storage class come from the spec.
func renderDataVolume(spec VMSpec, name string) kubevirtv1.DataVolumeTemplateSpec {
	src := &cdiv1.DataVolumeSource{Blank: &cdiv1.DataVolumeBlankImage{}}
	if spec.PVCName != "" {
		ns := spec.PVCNamespace
		if ns == "" {
			ns = spec.Ref.Namespace
		}
		src = &cdiv1.DataVolumeSource{PVC: &cdiv1.DataVolumeSourcePVC{Namespace: ns, Name: spec.PVCName}}
	}
	storage := &cdiv1.StorageSpec{}
	if spec.DiskGB > 0 {
		storage.Resources = corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceStorage: resource.MustParse(strconv.Itoa(spec.DiskGB) + "Gi"),
		}}
	}
	if spec.StorageClass != "" {
		sc := spec.StorageClass
		storage.StorageClassName = &sc
	}
	return kubevirtv1.DataVolumeTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(spec.Labels)},
		Spec:       cdiv1.DataVolumeSpec{Source: src, Storage: storage},
	}
}

func quantities(in map[corev1.ResourceName]string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, v := range in {
		if v == "" {
			continue
		}
		if q, err := resource.ParseQuantity(v); err == nil {
			out[name] = q
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
