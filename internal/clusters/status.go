package clusters

import (
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/kube"
)

// VMStatus maps a phase observed on a cluster to the VM status Shepherd shows; workers
// and status sync both use it so the two never disagree. Pending (being scheduled)
// reads as STARTING: that is what the person who pressed Start is waiting for.
func VMStatus(p kube.Phase) vm.Status {
	switch p {
	case kube.PhaseRunning:
		return vm.StatusRUNNING
	case kube.PhaseStopped:
		return vm.StatusSTOPPED
	case kube.PhaseStarting, kube.PhasePending:
		return vm.StatusSTARTING
	case kube.PhaseStopping:
		return vm.StatusSTOPPING
	case kube.PhaseFailed:
		return vm.StatusFAILED
	}
	return vm.StatusUNKNOWN
}
