package kubevirt

import (
	"maps"
	"slices"
	"strings"

	kubevirtv1 "kubevirt.io/api/core/v1"

	"kv-shepherd.io/shepherd/internal/kube"
)

// statusOf merges a VirtualMachine and its instance (nil when none) into Shepherd's
// view. The VM's printableStatus is KubeVirt's own summary of both objects; the VMI
// adds where it runs and its address. Every field is read defensively: a VM the
// controller has not seen yet has an empty status.
func statusOf(vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) kube.VMStatus {
	st := kube.VMStatus{
		Ref:    kube.VMRef{Namespace: vm.Namespace, Name: vm.Name},
		UID:    string(vm.UID),
		Exists: true,
		Labels: maps.Clone(vm.Labels),
		Ready:  vm.Status.Ready,
	}
	st.Phase, st.Message = phaseOf(vm, vmi)
	if st.Phase != kube.PhaseRunning {
		st.Ready = false
	}
	if vmi != nil && !vmi.IsFinal() && (st.Phase == kube.PhaseRunning || st.Phase == kube.PhaseStarting) {
		st.Node = vmi.Status.NodeName
		for _, iface := range vmi.Status.Interfaces {
			if iface.IP != "" {
				st.IP = iface.IP
				break
			}
		}
	}
	return st
}

// phaseOf collapses KubeVirt's printable statuses to Shepherd's phases. Error
// statuses (image pull, scheduling, volumes) become Failed with KubeVirt's words and
// the failing condition's message, so the portal can say what went wrong.
func phaseOf(vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) (kube.Phase, string) {
	if vm.DeletionTimestamp != nil {
		return kube.PhaseStopping, "Terminating"
	}
	switch ps := vm.Status.PrintableStatus; ps {
	case kubevirtv1.VirtualMachineStatusRunning, kubevirtv1.VirtualMachineStatusMigrating:
		return kube.PhaseRunning, ""
	case kubevirtv1.VirtualMachineStatusPaused:
		return kube.PhaseRunning, "Paused"
	case kubevirtv1.VirtualMachineStatusStopped:
		return kube.PhaseStopped, ""
	case kubevirtv1.VirtualMachineStatusStarting, kubevirtv1.VirtualMachineStatusProvisioning,
		kubevirtv1.VirtualMachineStatusWaitingForVolumeBinding:
		return kube.PhaseStarting, ""
	case kubevirtv1.VirtualMachineStatusStopping:
		return kube.PhaseStopping, ""
	case kubevirtv1.VirtualMachineStatusTerminating:
		return kube.PhaseStopping, "Terminating"
	case kubevirtv1.VirtualMachineStatusCrashLoopBackOff, kubevirtv1.VirtualMachineStatusUnschedulable,
		kubevirtv1.VirtualMachineStatusErrImagePull, kubevirtv1.VirtualMachineStatusImagePullBackOff,
		kubevirtv1.VirtualMachineStatusPvcNotFound, kubevirtv1.VirtualMachineStatusDataVolumeError:
		return kube.PhaseFailed, failureMessage(vm, string(ps))
	case "":
		// Not yet seen by virt-controller.
		if vmi != nil && vmi.Status.Phase == kubevirtv1.Running {
			return kube.PhaseRunning, ""
		}
		if runStrategy(vm) == kubevirtv1.RunStrategyHalted {
			return kube.PhaseStopped, ""
		}
		return kube.PhasePending, ""
	default:
		return kube.PhaseUnknown, string(ps)
	}
}

// failureMessage is the printable status plus the message of the first false
// condition that has one (Ready, Failure, ...).
func failureMessage(vm *kubevirtv1.VirtualMachine, printable string) string {
	for _, c := range vm.Status.Conditions {
		if c.Message != "" && (c.Status == "False" || c.Type == kubevirtv1.VirtualMachineFailure) {
			return printable + ": " + c.Message
		}
	}
	return printable
}

func sortStatuses(s []kube.VMStatus) {
	slices.SortFunc(s, func(a, b kube.VMStatus) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
}
