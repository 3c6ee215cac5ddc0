package kubevirt

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"kv-shepherd.io/shepherd/internal/kube"
)

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	// The SR-IOV network operator and Multus put the device plugin resource on the
	// NetworkAttachmentDefinition with this annotation.
	nadResourceAnnotation = "k8s.v1.cni.cncf.io/resourceName"
)

// Health implements kube.Provider: the API server answers, KubeVirt's API is served,
// and the credentials may list VirtualMachines. Expired or insufficient credentials
// show up here, before a worker trips over them.
func (p *Provider) Health(ctx context.Context) error {
	return p.call(ctx, func(ctx context.Context) error {
		if _, err := p.client.DiscoveryClient().ServerResourcesForGroupVersion(kubevirtv1.GroupVersion.String()); err != nil {
			if apierrors.IsNotFound(err) {
				return kube.NewPermanent(kube.CodeClusterUnhealthy, "KubeVirt is not installed: the API kubevirt.io/v1 is not served")
			}
			return err
		}
		_, err := p.client.VirtualMachine(metav1.NamespaceAll).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
}

// Capabilities implements kube.Provider. Only the versions are required; what the
// credentials may not read (nodes, storage classes, network attachments are often
// off limits to a namespaced service account) is left empty rather than failing.
func (p *Provider) Capabilities(ctx context.Context) (kube.Capabilities, error) {
	var caps kube.Capabilities
	err := p.call(ctx, func(ctx context.Context) error {
		v, err := p.client.DiscoveryClient().ServerVersion()
		if err != nil {
			return err
		}
		caps.KubernetesVersion = v.GitVersion
		permitted, err := p.kubevirtCR(ctx, &caps)
		if err != nil {
			return err
		}
		if err := optional(p.storageClasses(ctx, &caps)); err != nil {
			return err
		}
		if err := optional(p.sriov(ctx, &caps)); err != nil {
			return err
		}
		return optional(p.nodes(ctx, &caps, permitted))
	})
	return caps, err
}

// optional drops the errors that mean "not allowed" or "not installed".
func optional(err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return nil
	}
	return err
}

// kubevirtCR reads the version KubeVirt's operator reports and the host devices it
// permits (GPU resource names). Without read access to the CR, virt-api's own
// version endpoint is asked.
func (p *Provider) kubevirtCR(ctx context.Context, caps *kube.Capabilities) ([]string, error) {
	list, err := p.client.KubeVirt(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil && optional(err) != nil {
		return nil, err
	}
	var permitted []string
	if err == nil {
		for _, kv := range list.Items {
			if caps.KubeVirtVersion == "" {
				caps.KubeVirtVersion = kv.Status.ObservedKubeVirtVersion
			}
			if cfg := kv.Spec.Configuration.PermittedHostDevices; cfg != nil {
				for _, d := range cfg.PciHostDevices {
					permitted = append(permitted, d.ResourceName)
				}
				for _, d := range cfg.MediatedDevices {
					permitted = append(permitted, d.ResourceName)
				}
			}
		}
	}
	if caps.KubeVirtVersion == "" {
		if info, verr := p.client.ServerVersion().Get(); verr == nil {
			caps.KubeVirtVersion = info.GitVersion
		}
	}
	if caps.KubeVirtVersion == "" {
		caps.KubeVirtVersion = "unknown"
	}
	return permitted, nil
}

func (p *Provider) storageClasses(ctx context.Context, caps *kube.Capabilities) error {
	list, err := p.client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, sc := range list.Items {
		caps.StorageClasses = append(caps.StorageClasses, sc.Name)
		if sc.Annotations[defaultClassAnnotation] == "true" || sc.Annotations[betaDefaultClassAnnotation] == "true" {
			caps.DefaultStorageClass = sc.Name
		}
	}
	slices.Sort(caps.StorageClasses)
	return nil
}

// sriov lists the SR-IOV resources that NetworkAttachmentDefinitions offer; a
// cluster without Multus has no such API (NotFound), which is "none".
func (p *Provider) sriov(ctx context.Context, caps *kube.Capabilities) error {
	list, err := p.client.NetworkClient().K8sCniCncfIoV1().NetworkAttachmentDefinitions(metav1.NamespaceAll).
		List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, nad := range list.Items {
		if r := nad.Annotations[nadResourceAnnotation]; r != "" && strings.Contains(nad.Spec.Config, `"sriov"`) {
			caps.SRIOVNetworks = appendUnique(caps.SRIOVNetworks, r)
		}
	}
	slices.Sort(caps.SRIOVNetworks)
	return nil
}

// nodes finds GPUs (extended resources KubeVirt permits, or a GPU vendor's device
// plugin resources), hugepage sizes with capacity, and CPU-manager nodes (the label
// virt-handler sets where dedicated CPUs can be pinned).
func (p *Provider) nodes(ctx context.Context, caps *kube.Capabilities, permitted []string) error {
	list, err := p.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range list.Items {
		if n.Spec.Unschedulable {
			continue
		}
		for name, q := range n.Status.Allocatable {
			res := string(name)
			switch {
			case q.IsZero():
			case strings.HasPrefix(res, corev1.ResourceHugePagesPrefix):
				caps.Hugepages = appendUnique(caps.Hugepages, strings.TrimPrefix(res, corev1.ResourceHugePagesPrefix))
			case slices.Contains(permitted, res) || isGPUResource(res):
				caps.GPUDevices = appendUnique(caps.GPUDevices, res)
			}
		}
		if n.Labels[kubevirtv1.CPUManager] == "true" || n.Labels[kubevirtv1.DeprecatedCPUManager] == "true" {
			caps.DedicatedCPU = true
		}
	}
	slices.Sort(caps.GPUDevices)
	slices.Sort(caps.Hugepages)
	return nil
}

func isGPUResource(res string) bool {
	vendor, _, ok := strings.Cut(res, "/")
	return ok && (vendor == "nvidia.com" || vendor == "amd.com") || strings.Contains(strings.ToLower(res), "gpu")
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
