package clusters

import (
	"testing"

	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/kube"
)

func TestVMStatus(t *testing.T) {
	for phase, want := range map[kube.Phase]vm.Status{kube.PhaseRunning: vm.StatusRUNNING, kube.PhaseStopped: vm.StatusSTOPPED,
		kube.PhaseStarting: vm.StatusSTARTING, kube.PhasePending: vm.StatusSTARTING, kube.PhaseStopping: vm.StatusSTOPPING,
		kube.PhaseFailed: vm.StatusFAILED, kube.PhaseUnknown: vm.StatusUNKNOWN, "": vm.StatusUNKNOWN} {
		if got := VMStatus(phase); got != want {
			t.Errorf("%q: %s, want %s", phase, got, want)
		}
	}
}
