package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/kubecli"
)

// KubeVirtNamespace holds the KubeVirt CR and the stand-in virt-api's Service, as in a real install.
const KubeVirtNamespace = "kubevirt"

// GPUResource is the extended resource the test node advertises, so capability detection finds a GPU.
const GPUResource = "nvidia.com/GA102GL_A10"

// bootstrap creates what virt-operator, a storage provisioner and a kubelet would have created:
// the KubeVirt CRDs, the KubeVirt CR with its observed version, storage classes, a Node with
// hugepages and a GPU, and the RBAC for the limited user.
func bootstrap(ctx context.Context, kv kubecli.KubevirtClient, log *slog.Logger) error {
	steps := []struct {
		name string
		fn   func(context.Context, kubecli.KubevirtClient) error
	}{
		{"CRDs", createCRDs},
		{"RBAC", createRBAC},
		{"namespace", createNamespace},
		{"KubeVirt CR", createKubeVirtCR},
		{"storage classes", createStorageClasses},
		{"node", createNode},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(ctx, kv); err != nil {
			return fmt.Errorf("testcluster: bootstrap %s: %w", s.name, err)
		}
		log.Debug("bootstrap step done", "step", s.name, "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// crd builds a schemaless CRD: KubeVirt's real CRDs carry a huge generated schema, but for a
// test cluster preserving unknown fields is enough, since clients send well-typed objects.
func crd(plural, singular, kind string, short []string, status bool, cols []apiextv1.CustomResourceColumnDefinition) *apiextv1.CustomResourceDefinition {
	preserve := true
	ver := apiextv1.CustomResourceDefinitionVersion{
		Name: "v1", Served: true, Storage: true,
		Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
			Type: "object", XPreserveUnknownFields: &preserve}},
		AdditionalPrinterColumns: cols,
	}
	if status {
		ver.Subresources = &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}}
	}
	return &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + ".kubevirt.io", Labels: map[string]string{"kubevirt.io": ""}},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "kubevirt.io", Scope: apiextv1.NamespaceScoped, Versions: []apiextv1.CustomResourceDefinitionVersion{ver},
			Names: apiextv1.CustomResourceDefinitionNames{Plural: plural, Singular: singular, Kind: kind,
				ShortNames: short, Categories: []string{"all"}},
		},
	}
}

func createCRDs(ctx context.Context, kv kubecli.KubevirtClient) error {
	age := apiextv1.CustomResourceColumnDefinition{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"}
	ready := apiextv1.CustomResourceColumnDefinition{Name: "Ready", Type: "string", JSONPath: ".status.conditions[?(@.type=='Ready')].status"}
	crds := []*apiextv1.CustomResourceDefinition{
		crd("virtualmachines", "virtualmachine", "VirtualMachine", []string{"vm", "vms"}, true,
			[]apiextv1.CustomResourceColumnDefinition{age,
				{Name: "Status", Type: "string", JSONPath: ".status.printableStatus"}, ready}),
		// Like virt-operator's, the VMI CRD has no status subresource: kubevirt.io/api marks
		// VirtualMachineInstance +genclient:noStatus and virt-handler writes status with Update.
		crd("virtualmachineinstances", "virtualmachineinstance", "VirtualMachineInstance", []string{"vmi", "vmis"}, false,
			[]apiextv1.CustomResourceColumnDefinition{age,
				{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
				{Name: "IP", Type: "string", JSONPath: ".status.interfaces[0].ipAddress"},
				{Name: "NodeName", Type: "string", JSONPath: ".status.nodeName"}, ready}),
		crd("kubevirts", "kubevirt", "KubeVirt", []string{"kv", "kvs"}, true,
			[]apiextv1.CustomResourceColumnDefinition{age, {Name: "Phase", Type: "string", JSONPath: ".status.phase"}}),
	}
	api := kv.ExtensionsClient().ApiextensionsV1().CustomResourceDefinitions()
	for _, c := range crds {
		if _, err := api.Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	// A CRD serves only once Established; creating objects before that returns 404.
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, c := range crds {
			got, err := api.Get(ctx, c.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			established := false
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
}

func createRBAC(ctx context.Context, kv kubecli.KubevirtClient) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: LimitedUser},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"},
			Verbs: []string{"get", "list", "watch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: LimitedUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: LimitedUser},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: LimitedUser}},
	}
	if _, err := kv.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := kv.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func createNamespace(ctx context.Context, kv kubecli.KubevirtClient) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KubeVirtNamespace}}
	if _, err := kv.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// createKubeVirtCR creates the KubeVirt CR with the status virt-operator reports. It uses
// server-side apply rather than create: the API server holds the first create of a custom
// resource for 2 s after its CRD became Established (an HA safeguard), which would add 2 s to
// every start; apply is a patch and is not held.
func createKubeVirtCR(ctx context.Context, kv kubecli.KubevirtClient) error {
	obj, err := json.Marshal(&v1.KubeVirt{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "KubeVirt"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: KubeVirtNamespace},
	})
	if err != nil {
		return err
	}
	force := true
	apply := metav1.PatchOptions{FieldManager: "testcluster", Force: &force}
	cr, err := kv.KubeVirt(KubeVirtNamespace).Patch(ctx, "kubevirt", types.ApplyPatchType, obj, apply)
	if err != nil {
		return err
	}
	// Status is what virt-operator reports after a successful deployment; the provider reads
	// the KubeVirt version from observedKubeVirtVersion.
	now := metav1.Now()
	cr.Status = v1.KubeVirtStatus{
		Phase:                    v1.KubeVirtPhaseDeployed,
		OperatorVersion:          KubeVirtVersion,
		TargetKubeVirtVersion:    KubeVirtVersion,
		ObservedKubeVirtVersion:  KubeVirtVersion,
		TargetKubeVirtRegistry:   "quay.io/kubevirt",
		ObservedKubeVirtRegistry: "quay.io/kubevirt",
		DefaultArchitecture:      "amd64",
		Conditions: []v1.KubeVirtCondition{
			{Type: v1.KubeVirtConditionAvailable, Status: corev1.ConditionTrue, Reason: "AllComponentsReady",
				Message: "All components are ready.", LastProbeTime: now, LastTransitionTime: now},
		},
	}
	_, err = kv.KubeVirt(KubeVirtNamespace).UpdateStatus(ctx, cr, metav1.UpdateOptions{})
	return err
}

func createStorageClasses(ctx context.Context, kv kubecli.KubevirtClient) error {
	bind := storagev1.VolumeBindingWaitForFirstConsumer
	for _, sc := range []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "standard",
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: "testcluster.kubevirt-shepherd.io/standard", VolumeBindingMode: &bind},
		{ObjectMeta: metav1.ObjectMeta{Name: "fast"},
			Provisioner: "testcluster.kubevirt-shepherd.io/fast", VolumeBindingMode: &bind},
	} {
		if _, err := kv.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// createNode registers a node the way a kubelet would: the object first, then its status
// (capacity is status, so it needs the status subresource).
func createNode(ctx context.Context, kv kubecli.KubevirtClient) error {
	node, err := kv.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName,
		Labels: map[string]string{
			"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"node-role.kubernetes.io/worker": "", "kubevirt.io/schedulable": "true", "cpumanager": "true",
		}}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("16"),
		corev1.ResourceMemory:           resource.MustParse("64Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		"hugepages-2Mi":                 resource.MustParse("4Gi"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		GPUResource:                     resource.MustParse("2"),
		"devices.kubevirt.io/kvm":       resource.MustParse("1k"),
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Capacity: res, Allocatable: res,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "testcluster node is always ready", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: NodeName}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: KubeVersion, OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "testcluster://0"},
	}
	_, err = kv.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}
