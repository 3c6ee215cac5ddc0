package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

// waitFor polls GetVM until ref reaches phase.
func waitFor(t *testing.T, c *sim.Cluster, ref kube.VMRef, phase kube.Phase) kube.VMStatus {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := c.GetVM(context.Background(), ref)
		if err == nil && st.Phase == phase {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s: %+v %v", ref, phase, st, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitGone polls GetVM until ref is NotFound.
func waitGone(t *testing.T, c *sim.Cluster, ref kube.VMRef) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := c.GetVM(context.Background(), ref)
		if kube.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there: %v", ref, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nextEvents reads n events for ref, failing on timeout.
func nextEvents(t *testing.T, ch <-chan kube.Event, ref kube.VMRef, n int) []kube.Event {
	t.Helper()
	var out []kube.Event
	timeout := time.After(3 * time.Second)
	for len(out) < n {
		select {
		case ev := <-ch:
			if ev.Status.Ref == ref {
				out = append(out, ev)
			}
		case <-timeout:
			t.Fatalf("got %d of %d events: %+v", len(out), n, out)
		}
	}
	return out
}

func phases(evs []kube.Event) []kube.Phase {
	out := make([]kube.Phase, len(evs))
	for i, ev := range evs {
		out[i] = ev.Status.Phase
	}
	return out
}

func TestApplyRunningTakesStepDelayPerPhase(t *testing.T) {
	const step = 40 * time.Millisecond
	c, ctx := setup(t, sim.Options{StepDelay: step})
	start := time.Now()
	st, err := c.ApplyVM(ctx, spec("a", true))
	if err != nil || st.Phase != kube.PhasePending || st.Ready || st.IP != "" {
		t.Fatalf("apply returned %+v %v, want Pending without address", st, err)
	}
	waitFor(t, c, st.Ref, kube.PhaseStarting)
	run := waitFor(t, c, st.Ref, kube.PhaseRunning)
	if took := time.Since(start); took < 2*step {
		t.Errorf("Running after %v, want at least two steps (%v)", took, 2*step)
	}
	if !run.Ready || run.IP == "" || run.Node == "" {
		t.Errorf("running status incomplete: %+v", run)
	}
}

func TestRestartPassesThroughStoppingAndStarting(t *testing.T) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		c, ctx := setup(t, sim.Options{StepDelay: delay})
		st, _ := c.ApplyVM(ctx, spec("a", true))
		before := waitFor(t, c, st.Ref, kube.PhaseRunning)
		ch, _ := c.Watch(ctx)
		if err := c.RestartVM(ctx, st.Ref); err != nil {
			t.Fatal(err)
		}
		evs := nextEvents(t, ch, st.Ref, 3)
		want := []kube.Phase{kube.PhaseStopping, kube.PhaseStarting, kube.PhaseRunning}
		if got := phases(evs); !slices.Equal(got, want) {
			t.Fatalf("delay %v: restart phases = %v, want %v", delay, got, want)
		}
		if evs[0].Status.IP == "" || evs[1].Status.IP != "" || evs[1].Status.Ready {
			t.Errorf("delay %v: Stopping keeps the old VMI's address, Starting has none: %+v", delay, evs[:2])
		}
		after := evs[2].Status
		if after.UID != before.UID || !after.Ready || after.IP == "" {
			t.Errorf("delay %v: after restart %+v (before %+v)", delay, after, before)
		}
	}
}

func TestDeleteRunningVMHasTerminatingPeriod(t *testing.T) {
	c, ctx := setup(t, sim.Options{StepDelay: 30 * time.Millisecond})
	st, _ := c.ApplyVM(ctx, spec("a", true))
	waitFor(t, c, st.Ref, kube.PhaseRunning)
	ch, _ := c.Watch(ctx)
	if err := c.DeleteVM(ctx, st.Ref); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetVM(ctx, st.Ref)
	if err != nil || !got.Exists || got.Phase != kube.PhaseStopping || got.Ready || got.Message != "Terminating" {
		t.Fatalf("right after delete: %+v %v, want an existing Stopping VM marked Terminating", got, err)
	}
	if list, _ := c.ListVMs(ctx, "ns"); len(list) != 1 {
		t.Fatalf("terminating VM missing from list: %+v", list)
	}
	if err := c.DeleteVM(ctx, st.Ref); err != nil {
		t.Fatalf("repeated delete while terminating: %v", err)
	}
	evs := nextEvents(t, ch, st.Ref, 2)
	if evs[0].Type != kube.EventModified || evs[1].Type != kube.EventDeleted || evs[1].Status.Exists {
		t.Fatalf("events = %+v, want MODIFIED then DELETED", evs)
	}
	if _, err := c.GetVM(ctx, st.Ref); !kube.IsNotFound(err) {
		t.Fatalf("after DELETED event GetVM = %v, want NotFound", err)
	}
}

func TestDeleteStoppedVMIsImmediate(t *testing.T) {
	c, ctx := setup(t, sim.Options{StepDelay: time.Hour})
	st, _ := c.ApplyVM(ctx, spec("a", false))
	if err := c.DeleteVM(ctx, st.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetVM(ctx, st.Ref); !kube.IsNotFound(err) {
		t.Fatalf("GetVM = %v, want NotFound", err)
	}
}

func TestStatusLabelsAreCopies(t *testing.T) {
	c, ctx := setup(t, sim.Options{})
	w1, _ := c.Watch(ctx)
	w2, _ := c.Watch(ctx)
	s := spec("a", false)
	s.Labels = map[string]string{"kubevirt-shepherd.io/vm-id": "1"}
	applied, err := c.ApplyVM(ctx, s)
	if err != nil || applied.Labels["kubevirt-shepherd.io/vm-id"] != "1" {
		t.Fatalf("ApplyVM labels = %v, %v", applied.Labels, err)
	}
	s.Labels["kubevirt-shepherd.io/vm-id"] = "caller-changed-spec"
	applied.Labels["kubevirt-shepherd.io/vm-id"] = "caller-changed-status"
	e1, e2 := <-w1, <-w2
	e1.Status.Labels["kubevirt-shepherd.io/vm-id"] = "watcher-1-changed"
	if e2.Status.Labels["kubevirt-shepherd.io/vm-id"] != "1" {
		t.Fatalf("watchers share a labels map: %v", e2.Status.Labels)
	}
	got, _ := c.GetVM(ctx, s.Ref)
	list, _ := c.ListVMs(ctx, "")
	if got.Labels["kubevirt-shepherd.io/vm-id"] != "1" || list[0].Labels["kubevirt-shepherd.io/vm-id"] != "1" {
		t.Fatalf("labels aliased: get %v, list %v", got.Labels, list[0].Labels)
	}
	got.Labels["x"] = "y"
	if again, _ := c.GetVM(ctx, s.Ref); len(again.Labels) != 1 {
		t.Fatalf("GetVM result aliases the cluster: %v", again.Labels)
	}
}
