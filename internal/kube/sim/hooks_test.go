package sim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

func setup(t *testing.T, opts sim.Options) (*sim.Cluster, context.Context) {
	t.Helper()
	c := sim.New(opts)
	t.Cleanup(c.Close)
	ctx := context.Background()
	if _, err := c.EnsureNamespace(ctx, "ns", nil); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}

func spec(name string, running bool) kube.VMSpec {
	return kube.VMSpec{Ref: kube.VMRef{Namespace: "ns", Name: name}, Image: "img", Running: running}
}

func TestDelayedTransitionsPassThroughIntermediatePhases(t *testing.T) {
	c, ctx := setup(t, sim.Options{StepDelay: 30 * time.Millisecond})
	events, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.ApplyVM(ctx, spec("a", true))
	if err != nil || st.Phase != kube.PhasePending {
		t.Fatalf("apply: %+v %v", st, err)
	}
	want := []kube.Phase{kube.PhasePending, kube.PhaseStarting, kube.PhaseRunning}
	for i, p := range want {
		select {
		case ev := <-events:
			if ev.Status.Phase != p {
				t.Fatalf("event %d phase = %s, want %s", i, ev.Status.Phase, p)
			}
		case <-time.After(time.Second):
			t.Fatalf("timed out waiting for %s", p)
		}
	}
	if err := c.StopVM(ctx, st.Ref); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetVM(ctx, st.Ref); got.Phase != kube.PhaseStopping {
		t.Fatalf("right after stop phase = %s, want Stopping", got.Phase)
	}
}

func TestFailNextIsOneShotPerOperation(t *testing.T) {
	c, ctx := setup(t, sim.Options{})
	boom := kube.NewPermanent(kube.CodeNamespaceQuotaExceeded, "quota")
	c.FailNext(sim.OpEnsureNamespace, boom)
	if _, err := c.ListVMs(ctx, ""); err != nil {
		t.Fatalf("other operation affected: %v", err)
	}
	if _, err := c.EnsureNamespace(ctx, "x", nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want injected", err)
	}
	if _, err := c.EnsureNamespace(ctx, "x", nil); err != nil {
		t.Fatalf("fault not one-shot: %v", err)
	}
}

func TestSetSlowHonoursContext(t *testing.T) {
	c, _ := setup(t, sim.Options{})
	c.SetSlow(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetVM(ctx, kube.VMRef{Namespace: "ns", Name: "a"})
	if !kube.IsRetryable(err) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("err = %v after %v, want fast retryable timeout", err, time.Since(start))
	}
}

func TestSetHealthy(t *testing.T) {
	c, ctx := setup(t, sim.Options{})
	c.SetHealthy(false)
	if err := c.Health(ctx); !kube.IsRetryable(err) {
		t.Fatalf("Health = %v", err)
	}
	if _, err := c.ApplyVM(ctx, spec("a", true)); !kube.IsRetryable(err) {
		t.Fatalf("ApplyVM on unhealthy cluster = %v", err)
	}
	c.SetHealthy(true)
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDropWatchesClosesChannels(t *testing.T) {
	c, ctx := setup(t, sim.Options{})
	a, _ := c.Watch(ctx)
	b, _ := c.Watch(ctx)
	c.DropWatches()
	for _, ch := range []<-chan kube.Event{a, b} {
		if _, ok := <-ch; ok {
			t.Fatal("channel still open")
		}
	}
	// A new watch after a drop works and sees new events.
	ch, _ := c.Watch(ctx)
	if _, err := c.ApplyVM(ctx, spec("a", false)); err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; ev.Type != kube.EventAdded {
		t.Fatalf("event = %+v", ev)
	}
}

func TestSlowWatcherIsDroppedNotSilentlyLossy(t *testing.T) {
	c, ctx := setup(t, sim.Options{WatchBuffer: 2})
	ch, _ := c.Watch(ctx)
	if _, err := c.ApplyVM(ctx, spec("a", true)); err != nil { // 3 events
		t.Fatal(err)
	}
	n := 0
	for range ch {
		n++
	}
	if n != 2 {
		t.Fatalf("received %d buffered events before close, want 2", n)
	}
}

func TestCapabilitiesFromOptions(t *testing.T) {
	caps := kube.Capabilities{KubeVirtVersion: "v1.9.0", GPUDevices: []string{"nvidia.com/A100"},
		Hugepages: []string{"2Mi"}, StorageClasses: []string{"fast", "slow"}, DefaultStorageClass: "fast", DedicatedCPU: true}
	c, ctx := setup(t, sim.Options{Capabilities: caps})
	got, err := c.Capabilities(ctx)
	if err != nil || got.KubeVirtVersion != "v1.9.0" || got.DefaultStorageClass != "fast" || !got.DedicatedCPU ||
		len(got.StorageClasses) != 2 || got.GPUDevices[0] != "nvidia.com/A100" || got.Hugepages[0] != "2Mi" {
		t.Fatalf("Capabilities = %+v, %v", got, err)
	}
	got.StorageClasses[0] = "mutated"
	again, _ := c.Capabilities(ctx)
	if again.StorageClasses[0] != "fast" {
		t.Fatal("Capabilities returned an aliased slice")
	}
}

func TestApplySpecChangeKeepsUIDAndEmitsModified(t *testing.T) {
	c, ctx := setup(t, sim.Options{})
	s := spec("a", false)
	first, _ := c.ApplyVM(ctx, s)
	ch, _ := c.Watch(ctx)
	if _, err := c.ApplyVM(ctx, s); err != nil { // unchanged: no event
		t.Fatal(err)
	}
	s.CPUCores = 2
	second, err := c.ApplyVM(ctx, s)
	if err != nil || second.UID != first.UID {
		t.Fatalf("UID changed or err: %v %v", second.UID, err)
	}
	if ev := <-ch; ev.Type != kube.EventModified {
		t.Fatalf("first event after spec change = %+v", ev)
	}
	select {
	case ev := <-ch:
		t.Fatalf("unexpected extra event %+v", ev)
	default:
	}
}

func TestDeleteDuringDelayedStart(t *testing.T) {
	c, ctx := setup(t, sim.Options{StepDelay: 20 * time.Millisecond})
	st, _ := c.ApplyVM(ctx, spec("a", true))
	if err := c.DeleteVM(ctx, st.Ref); err != nil {
		t.Fatal(err)
	}
	if err := c.StartVM(ctx, st.Ref); !kube.IsPermanent(err) {
		t.Fatalf("StartVM while terminating = %v, want permanent", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := c.GetVM(ctx, st.Ref); kube.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("VM never disappeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond) // a stale timer must not resurrect it
	if _, err := c.GetVM(ctx, st.Ref); !kube.IsNotFound(err) {
		t.Fatalf("VM resurrected: %v", err)
	}
}
