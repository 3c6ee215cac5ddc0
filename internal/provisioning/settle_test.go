package provisioning

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

// slowBoots replaces the fixture's cluster with one whose VMs take step per phase;
// the run that did the cluster step checks once only.
func slowBoots(f *fixture, step time.Duration) {
	f.reg = clusters.New(f.store, clusters.Options{Concurrency: 4, SimStepDelay: step})
	f.t.Cleanup(f.reg.Close)
	f.sim = f.reg.Sim(f.ctx, "sim-a")
	f.exec.Clusters = f.reg
	f.exec.Linger = time.Millisecond
}

// A create does its cluster steps and ends while the VM boots; the next runs only check
// (they never apply again) and the last one commits.
func TestCreateDoesNotHoldAWorkerWhileTheVMBoots(t *testing.T) {
	f := newFixture(t)
	slowBoots(f, 300*time.Millisecond)
	ev, v := f.approved()
	began := time.Now()
	err := f.exec.Create(f.ctx, ev, Attempt{N: 1, Max: 5})
	if _, later := jobs.IsNotYet(err); !later {
		t.Fatalf("first run: %v, want not yet", err)
	}
	if d := time.Since(began); d > 250*time.Millisecond {
		t.Errorf("first run took %s: it waited for the boot", d)
	}
	tk := f.ticketOf(ev)
	if _, applied := stepDoneAt(tk.Steps, domain.StepApplied); !applied || tk.Status != approvalticket.StatusEXECUTING {
		t.Fatalf("after the first run: ticket %s, steps %+v", tk.Status, tk.Steps)
	}
	// A second apply would fail the ticket: the check runs must not apply.
	f.sim.FailNext(sim.OpApplyVM, forbidden("virtualmachines"))
	if err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusRUNNING || f.ticketOf(ev).Status != approvalticket.StatusSUCCESS {
		t.Fatalf("vm %s ticket %s", got.Status, f.ticketOf(ev).Status)
	}
	if all, _ := f.sim.ListVMs(f.ctx, ""); len(all) != 1 {
		t.Fatalf("%d VMs on the cluster", len(all))
	}
}

// The ready timeout counts from the cluster step, across runs: a VM that has not booted
// by then leaves the ticket done and the VM to status sync, as before.
func TestReadyTimeoutSpansTheChecks(t *testing.T) {
	f := newFixture(t)
	slowBoots(f, 10*time.Second)
	f.exec.ReadyTimeout = 300 * time.Millisecond
	ev, v := f.approved()
	if err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	got := f.vm(v.ID)
	if f.ticketOf(ev).Status != approvalticket.StatusSUCCESS || got.Status == vm.StatusRUNNING ||
		!strings.Contains(got.StatusMessage, "status sync keeps watching") {
		t.Fatalf("ticket %s, vm %s %q", f.ticketOf(ev).Status, got.Status, got.StatusMessage)
	}
}

// A stop is sent once; the checks that follow do not send it again.
func TestPowerSendsTheOperationOnce(t *testing.T) {
	f := newFixture(t)
	slowBoots(f, 300*time.Millisecond)
	v := f.running()
	ev := f.operation(v, approvalticket.TypeVM_STOP, nil)
	err := f.exec.Power(f.ctx, ev, Attempt{N: 1, Max: 5})
	if _, later := jobs.IsNotYet(err); !later {
		t.Fatalf("first run: %v, want not yet", err)
	}
	f.sim.FailNext(sim.OpStopVM, errors.New("stop sent twice"))
	if err := f.drive(f.exec.Power, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusSTOPPED {
		t.Fatalf("vm %s", got.Status)
	}
}

// A quick transition (a stop) finishes in the run that sent it: it lingers briefly.
func TestQuickTransitionFinishesInOneRun(t *testing.T) {
	f := newFixture(t)
	slowBoots(f, 100*time.Millisecond)
	v := f.running()
	f.exec.Linger = 2 * time.Second
	ev := f.operation(v, approvalticket.TypeVM_STOP, nil)
	if err := f.exec.Power(f.ctx, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatalf("stop: %v, want done in one run", err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusSTOPPED {
		t.Fatalf("vm %s", got.Status)
	}
}
