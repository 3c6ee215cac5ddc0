package sim_test

import (
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/conformance"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

func newSim(opts sim.Options) func(t *testing.T) kube.Provider {
	return func(t *testing.T) kube.Provider {
		c := sim.New(opts)
		t.Cleanup(c.Close)
		return c
	}
}

func TestConformanceSynchronous(t *testing.T) {
	conformance.Run(t, newSim(sim.Options{}))
}

func TestConformanceDelayed(t *testing.T) {
	conformance.Run(t, newSim(sim.Options{StepDelay: 20 * time.Millisecond}))
}
