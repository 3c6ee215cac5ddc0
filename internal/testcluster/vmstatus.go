package testcluster

import (
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1 "kubevirt.io/api/core/v1"
)

// newVMI renders the VMI for a VM the way virt-controller does: the template's metadata and
// spec, owned by the VM (controller reference), with the finalizer that keeps it visible while
// it "shuts down".
func newVMI(vm *v1.VirtualMachine) *v1.VirtualMachineInstance {
	t := vm.Spec.Template
	labels := map[string]string{}
	for k, v := range t.ObjectMeta.Labels {
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range t.ObjectMeta.Annotations {
		annotations[k] = v
	}
	isController, block := true, true
	return &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{
			Name: vm.Name, Namespace: vm.Namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1.GroupVersion.String(), Kind: "VirtualMachine",
				Name: vm.Name, UID: vm.UID, Controller: &isController, BlockOwnerDeletion: &block}},
			Finalizers: []string{v1.VirtualMachineInstanceFinalizer},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}

// setRunning fills in what virt-handler reports for a booted guest: phase, node, the first
// interface's address and the Ready condition.
func setRunning(vmi *v1.VirtualMachineInstance) {
	now := metav1.Now()
	ip := podIP(vmi)
	ifName := "default"
	if nets := vmi.Spec.Networks; len(nets) > 0 {
		ifName = nets[0].Name
	}
	vmi.Status.Phase = v1.Running
	vmi.Status.NodeName = NodeName
	vmi.Status.Interfaces = []v1.VirtualMachineInstanceNetworkInterface{{
		Name: ifName, IP: ip, IPs: []string{ip}, MAC: mac(vmi), InterfaceName: "eth0",
		PodInterfaceName: "eth0", InfoSource: "domain, guest-agent", QueueCount: 1, LinkState: "up",
	}}
	vmi.Status.Conditions = []v1.VirtualMachineInstanceCondition{{
		Type: v1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue, LastTransitionTime: now,
	}}
	vmi.Status.PhaseTransitionTimestamps = append(vmi.Status.PhaseTransitionTimestamps,
		v1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: v1.Running, PhaseTransitionTimestamp: now})
	vmi.Status.GuestOSInfo = v1.VirtualMachineInstanceGuestOSInfo{Name: "testcluster", ID: "testcluster", PrettyName: "Test cluster guest"}
	if vmi.Labels == nil {
		vmi.Labels = map[string]string{}
	}
	vmi.Labels[v1.NodeNameLabel] = NodeName
}

// podIP gives each VMI a stable address in the pod network 10.244.0.0/16, derived from its UID.
func podIP(vmi *v1.VirtualMachineInstance) string {
	h := fnv.New32a()
	h.Write([]byte(vmi.UID))
	s := h.Sum32()
	return fmt.Sprintf("10.244.%d.%d", (s>>8)%256, 1+s%254)
}

func mac(vmi *v1.VirtualMachineInstance) string {
	h := fnv.New32a()
	h.Write([]byte(vmi.UID))
	s := h.Sum32()
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", s>>24, (s>>16)&0xff, (s>>8)&0xff, s&0xff)
}

// vmStatus derives the VM's status from its VMI like virt-controller's printable-status logic:
// Stopping while a VMI is going away or unwanted, Provisioning before a wanted VMI exists,
// Starting until it runs, Running, and Stopped without a VMI.
func vmStatus(vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance, want bool, strategy v1.VirtualMachineRunStrategy) v1.VirtualMachineStatus {
	st := *vm.Status.DeepCopy()
	st.RunStrategy = strategy
	st.Created = vmi != nil
	running := vmi != nil && vmi.DeletionTimestamp == nil && vmi.Status.Phase == v1.Running
	st.Ready = running
	switch {
	case vm.DeletionTimestamp != nil:
		st.PrintableStatus = v1.VirtualMachineStatusTerminating
	case vmi != nil && (vmi.DeletionTimestamp != nil || !want) && !vmi.IsFinal():
		st.PrintableStatus = v1.VirtualMachineStatusStopping
	case vmi == nil || vmi.IsFinal():
		if want {
			st.PrintableStatus = v1.VirtualMachineStatusProvisioning
		} else {
			st.PrintableStatus = v1.VirtualMachineStatusStopped
		}
	case running:
		st.PrintableStatus = v1.VirtualMachineStatusRunning
	default:
		st.PrintableStatus = v1.VirtualMachineStatusStarting
	}
	if vmi != nil && vmi.DeletionTimestamp == nil {
		st.ObservedGeneration = vm.Generation
		st.DesiredGeneration = vm.Generation
	}

	ready := v1.VirtualMachineCondition{Type: v1.VirtualMachineReady, Status: corev1.ConditionFalse}
	switch {
	case running:
		ready.Status = corev1.ConditionTrue
	case vmi == nil:
		ready.Reason, ready.Message = "VMINotExists", "VMI does not exist"
	case vmi.DeletionTimestamp != nil:
		ready.Reason, ready.Message = "Terminating", "VMI is being deleted"
	default:
		ready.Reason, ready.Message = "GuestNotRunning", "Guest VM is not reported as running"
	}
	var conds []v1.VirtualMachineCondition
	for _, c := range st.Conditions {
		if c.Type == v1.VirtualMachineReady {
			// Keep the transition time when nothing changed, so status stays stable.
			if c.Status == ready.Status && c.Reason == ready.Reason {
				ready.LastTransitionTime = c.LastTransitionTime
			}
			continue
		}
		conds = append(conds, c)
	}
	if ready.LastTransitionTime.IsZero() {
		ready.LastTransitionTime = metav1.Now()
	}
	st.Conditions = append(conds, ready)
	return st
}

// statusEqual compares two statuses, so that an unchanged status is not written again (each
// write would trigger another reconcile).
func statusEqual(a, b v1.VirtualMachineStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
