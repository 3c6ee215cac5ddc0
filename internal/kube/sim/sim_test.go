package sim_test

import (
	"path/filepath"
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

// newDurable reopens one state file for every subtest, so each subtest
// also runs against a cluster loaded from what the earlier ones left
// behind (including VMs still mid-transition with a StepDelay).
func newDurable(t *testing.T, opts sim.Options) func(t *testing.T) kube.Provider {
	opts.StateFile = filepath.Join(t.TempDir(), "cluster.json")
	return func(t *testing.T) kube.Provider {
		c, err := sim.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
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

func TestConformanceDurable(t *testing.T) {
	conformance.Run(t, newDurable(t, sim.Options{}))
}

func TestConformanceDurableDelayed(t *testing.T) {
	conformance.Run(t, newDurable(t, sim.Options{StepDelay: 20 * time.Millisecond}))
}
