package conformance

import (
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
)

// testLabels checks that the VM's labels come back from GetVM, ListVMs and
// the watch: the reconciler finds orphans by Shepherd's labels, so a
// provider that drops them would make every adopted VM invisible.
func testLabels(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	events, err := p.Watch(ctx)
	must(t, "Watch", err)
	spec := vmSpec(ns, "vm-labels", false)
	spec.Labels = map[string]string{
		"kubevirt-shepherd.io/service": "svc-a",
		"kubevirt-shepherd.io/vm-id":   "0b6f7c1e",
	}
	_, err = p.ApplyVM(ctx, spec)
	must(t, "ApplyVM", err)

	added := waitEvent(t, events, spec.Ref, func(ev kube.Event) bool { return true })
	if added.Type != kube.EventAdded {
		t.Errorf("first event = %s, want %s", added.Type, kube.EventAdded)
	}
	wantLabels(t, "watch ADDED", added.Status.Labels, spec.Labels)
	got, err := p.GetVM(ctx, spec.Ref)
	must(t, "GetVM", err)
	wantLabels(t, "GetVM", got.Labels, spec.Labels)
	list, err := p.ListVMs(ctx, ns)
	must(t, "ListVMs", err)
	if len(list) != 1 {
		t.Fatalf("ListVMs = %+v, want one VM", list)
	}
	wantLabels(t, "ListVMs", list[0].Labels, spec.Labels)

	// A re-apply with changed labels is what an edit or adoption does.
	spec.Labels = map[string]string{
		"kubevirt-shepherd.io/service": "svc-b",
		"kubevirt-shepherd.io/vm-id":   "0b6f7c1e",
		"kubevirt-shepherd.io/system":  "sys-1",
	}
	_, err = p.ApplyVM(ctx, spec)
	must(t, "ApplyVM with new labels", err)
	got, err = p.GetVM(ctx, spec.Ref)
	must(t, "GetVM after relabel", err)
	wantLabels(t, "GetVM after relabel", got.Labels, spec.Labels)
	// Earlier status updates may still be queued with the old labels.
	waitEvent(t, events, spec.Ref, func(ev kube.Event) bool {
		return ev.Type == kube.EventModified && hasLabels(ev.Status.Labels, spec.Labels)
	})
}

// wantLabels requires every wanted label; a real cluster may add its own.
func wantLabels(t *testing.T, where string, got, want map[string]string) {
	t.Helper()
	if !hasLabels(got, want) {
		t.Errorf("%s: labels = %v, want at least %v", where, got, want)
	}
}

func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// waitEvent returns the first event for ref that match accepts.
func waitEvent(t *testing.T, events <-chan kube.Event, ref kube.VMRef, match func(kube.Event) bool) kube.Event {
	t.Helper()
	timeout := time.After(Timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch closed while waiting for an event of %s", ref)
			}
			if ev.Status.Ref == ref && match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no matching event for %s", ref)
		}
	}
}
