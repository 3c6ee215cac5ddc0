// Package conformance is the behavioural contract every kube.Provider must
// meet. The simulator and the real KubeVirt provider both run it, so code
// written and tested against the simulator keeps working on real clusters.
//
// It assumes nothing about timing: every state change is awaited by polling
// with a deadline, so it works with synchronous fakes and real clusters.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kv-shepherd.io/shepherd/internal/kube"
)

// Timeout bounds every wait for a state transition. Real clusters need far
// longer than the simulator; callers may raise it before calling Run.
var Timeout = 30 * time.Second

// Run executes the suite. newProvider is called once per subtest and may
// return the same provider each time; the suite uses fresh namespaces.
func Run(t *testing.T, newProvider func(t *testing.T) kube.Provider) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p kube.Provider)
	}{
		{"HealthAndCapabilities", testHealthAndCapabilities},
		{"EnsureNamespaceIdempotent", testEnsureNamespace},
		{"ApplyIdempotent", testApplyIdempotent},
		{"PowerLifecycle", testPowerLifecycle},
		{"PowerOpsIdempotent", testPowerOpsIdempotent},
		{"ApplyRunStrategyChange", testApplyRunStrategy},
		{"NotFound", testNotFound},
		{"DeleteThenGone", testDelete},
		{"ListAcrossNamespaces", testList},
		{"WatchLifecycle", testWatch},
		{"LabelsReported", testLabels},
		{"ErrorClassification", testFaults},
		{"Console", testConsole},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newProvider(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout+10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// uniqueNS returns a fresh namespace name so the suite can share a real
// cluster with earlier runs.
func uniqueNS(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "conf-" + hex.EncodeToString(b)
}

func newNS(t *testing.T, p kube.Provider) string {
	t.Helper()
	ns := uniqueNS(t)
	if _, err := p.EnsureNamespace(ctxFor(t), ns, map[string]string{"kubevirt-shepherd.io/managed": "true"}); err != nil {
		t.Fatalf("EnsureNamespace(%s): %v", ns, err)
	}
	return ns
}

func vmSpec(ns, name string, running bool) kube.VMSpec {
	return kube.VMSpec{
		Ref:           kube.VMRef{Namespace: ns, Name: name},
		Labels:        map[string]string{"kubevirt-shepherd.io/service": "conformance"},
		CPUCores:      1,
		MemoryRequest: "128Mi",
		Image:         "quay.io/kubevirt/cirros-container-disk-demo",
		CloudInit:     "#cloud-config\n",
		Running:       running,
	}
}

// waitPhase polls GetVM with growing intervals until want or Timeout.
func waitPhase(t *testing.T, p kube.Provider, ref kube.VMRef, want kube.Phase) kube.VMStatus {
	t.Helper()
	ctx := ctxFor(t)
	deadline := time.Now().Add(Timeout)
	interval := time.Millisecond
	var last kube.VMStatus
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = p.GetVM(ctx, ref)
		if lastErr == nil && last.Phase == want {
			return last
		}
		time.Sleep(interval)
		interval = min(interval*2, 250*time.Millisecond)
	}
	t.Fatalf("%s never reached %s: last status %+v, err %v", ref, want, last, lastErr)
	return last
}

// waitGone polls until GetVM reports NotFound.
func waitGone(t *testing.T, p kube.Provider, ref kube.VMRef) {
	t.Helper()
	ctx := ctxFor(t)
	deadline := time.Now().Add(Timeout)
	interval := time.Millisecond
	for time.Now().Before(deadline) {
		_, err := p.GetVM(ctx, ref)
		if kube.IsNotFound(err) {
			return
		}
		time.Sleep(interval)
		interval = min(interval*2, 250*time.Millisecond)
	}
	t.Fatalf("%s still exists after delete", ref)
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testHealthAndCapabilities(t *testing.T, p kube.Provider) {
	must(t, "Health", p.Health(ctxFor(t)))
	caps, err := p.Capabilities(ctxFor(t))
	must(t, "Capabilities", err)
	if caps.KubeVirtVersion == "" {
		t.Error("Capabilities.KubeVirtVersion is empty")
	}
}

func testEnsureNamespace(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), uniqueNS(t)
	created, err := p.EnsureNamespace(ctx, ns, nil)
	must(t, "first EnsureNamespace", err)
	if !created {
		t.Error("first EnsureNamespace: created = false")
	}
	created, err = p.EnsureNamespace(ctx, ns, nil)
	must(t, "second EnsureNamespace", err)
	if created {
		t.Error("second EnsureNamespace: created = true")
	}
	_, err = p.EnsureNamespace(ctx, "Not_A_Valid_Name", nil)
	if !kube.IsPermanent(err) {
		t.Errorf("invalid namespace name: err = %v, want permanent", err)
	}
}

func testApplyIdempotent(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	spec := vmSpec(ns, "vm-a", true)
	first, err := p.ApplyVM(ctx, spec)
	must(t, "first ApplyVM", err)
	second, err := p.ApplyVM(ctx, spec)
	must(t, "second ApplyVM", err)
	if first.UID == "" || first.UID != second.UID {
		t.Errorf("UIDs differ or empty: %q vs %q", first.UID, second.UID)
	}
	list, err := p.ListVMs(ctx, ns)
	must(t, "ListVMs", err)
	if len(list) != 1 || list[0].UID != first.UID || list[0].Ref != spec.Ref || !list[0].Exists {
		t.Errorf("ListVMs = %+v, want exactly the one VM", list)
	}
	st := waitPhase(t, p, spec.Ref, kube.PhaseRunning)
	if !st.Ready || st.IP == "" || st.Node == "" || st.UID != first.UID {
		t.Errorf("running status incomplete: %+v", st)
	}
}

func testPowerLifecycle(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	ref := kube.VMRef{Namespace: ns, Name: "vm-power"}
	_, err := p.ApplyVM(ctx, vmSpec(ns, ref.Name, true))
	must(t, "ApplyVM", err)
	uid := waitPhase(t, p, ref, kube.PhaseRunning).UID

	must(t, "StopVM", p.StopVM(ctx, ref))
	if st := waitPhase(t, p, ref, kube.PhaseStopped); st.Ready || st.IP != "" {
		t.Errorf("stopped VM still ready or addressed: %+v", st)
	}
	must(t, "StartVM", p.StartVM(ctx, ref))
	waitPhase(t, p, ref, kube.PhaseRunning)

	must(t, "RestartVM", p.RestartVM(ctx, ref))
	if st := waitPhase(t, p, ref, kube.PhaseRunning); st.UID != uid {
		t.Errorf("restart changed the VM's UID: %s -> %s", uid, st.UID)
	}
}

func testPowerOpsIdempotent(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	ref := kube.VMRef{Namespace: ns, Name: "vm-idem"}
	_, err := p.ApplyVM(ctx, vmSpec(ns, ref.Name, false))
	must(t, "ApplyVM halted", err)
	waitPhase(t, p, ref, kube.PhaseStopped)
	must(t, "StopVM on stopped VM", p.StopVM(ctx, ref))
	if err := p.RestartVM(ctx, ref); !kube.IsPermanent(err) {
		t.Errorf("RestartVM on stopped VM: err = %v, want permanent", err)
	}
	must(t, "StartVM", p.StartVM(ctx, ref))
	waitPhase(t, p, ref, kube.PhaseRunning)
	must(t, "StartVM on running VM", p.StartVM(ctx, ref))
	waitPhase(t, p, ref, kube.PhaseRunning)
}

func testApplyRunStrategy(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	spec := vmSpec(ns, "vm-rs", false)
	_, err := p.ApplyVM(ctx, spec)
	must(t, "ApplyVM halted", err)
	waitPhase(t, p, spec.Ref, kube.PhaseStopped)
	spec.Running = true
	_, err = p.ApplyVM(ctx, spec)
	must(t, "ApplyVM running", err)
	waitPhase(t, p, spec.Ref, kube.PhaseRunning)
	spec.Running = false
	_, err = p.ApplyVM(ctx, spec)
	must(t, "ApplyVM halted again", err)
	waitPhase(t, p, spec.Ref, kube.PhaseStopped)
}

func testNotFound(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	missing := kube.VMRef{Namespace: ns, Name: "does-not-exist"}
	if _, err := p.GetVM(ctx, missing); !kube.IsNotFound(err) {
		t.Errorf("GetVM missing: err = %v, want NotFound", err)
	}
	if err := p.DeleteVM(ctx, missing); !kube.IsNotFound(err) {
		t.Errorf("DeleteVM missing: err = %v, want NotFound", err)
	}
	for name, op := range map[string]func(context.Context, kube.VMRef) error{
		"StartVM": p.StartVM, "StopVM": p.StopVM, "RestartVM": p.RestartVM,
	} {
		if err := op(ctx, missing); !kube.IsNotFound(err) {
			t.Errorf("%s missing: err = %v, want NotFound", name, err)
		}
	}
	if _, err := p.ApplyVM(ctx, vmSpec(uniqueNS(t), "orphan", false)); err == nil {
		t.Error("ApplyVM into a missing namespace succeeded")
	}
}

func testDelete(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	ref := kube.VMRef{Namespace: ns, Name: "vm-del"}
	_, err := p.ApplyVM(ctx, vmSpec(ns, ref.Name, true))
	must(t, "ApplyVM", err)
	waitPhase(t, p, ref, kube.PhaseRunning)
	must(t, "DeleteVM", p.DeleteVM(ctx, ref))
	waitGone(t, p, ref)
	if err := p.DeleteVM(ctx, ref); !kube.IsNotFound(err) {
		t.Errorf("second DeleteVM: err = %v, want NotFound", err)
	}
	list, err := p.ListVMs(ctx, ns)
	must(t, "ListVMs", err)
	if len(list) != 0 {
		t.Errorf("ListVMs after delete = %+v", list)
	}
}

func testList(t *testing.T, p kube.Provider) {
	ctx := ctxFor(t)
	ns1, ns2 := newNS(t, p), newNS(t, p)
	for _, ns := range []string{ns1, ns2} {
		_, err := p.ApplyVM(ctx, vmSpec(ns, "vm-l", false))
		must(t, "ApplyVM", err)
	}
	one, err := p.ListVMs(ctx, ns1)
	must(t, "ListVMs ns1", err)
	if len(one) != 1 || one[0].Ref.Namespace != ns1 {
		t.Errorf("ListVMs(%s) = %+v", ns1, one)
	}
	all, err := p.ListVMs(ctx, "")
	must(t, "ListVMs all", err)
	seen := map[string]bool{}
	for _, s := range all {
		if strings.HasPrefix(s.Ref.Namespace, "conf-") {
			seen[s.Ref.Namespace] = true
		}
	}
	if !seen[ns1] || !seen[ns2] {
		t.Errorf("ListVMs(\"\") misses a namespace: %v", seen)
	}
}

func testWatch(t *testing.T, p kube.Provider) {
	ctx, cancel := context.WithCancel(ctxFor(t))
	ns := newNS(t, p)
	ref := kube.VMRef{Namespace: ns, Name: "vm-watch"}
	events, err := p.Watch(ctx)
	must(t, "Watch", err)

	_, err = p.ApplyVM(ctx, vmSpec(ns, ref.Name, true))
	must(t, "ApplyVM", err)
	waitPhase(t, p, ref, kube.PhaseRunning)
	must(t, "DeleteVM", p.DeleteVM(ctx, ref))

	var types []string
	sawRunning := false
	timeout := time.After(Timeout)
collect:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch closed early after %v", types)
			}
			if ev.Status.Ref != ref {
				continue
			}
			types = append(types, ev.Type)
			sawRunning = sawRunning || ev.Status.Phase == kube.PhaseRunning
			if ev.Type == kube.EventDeleted {
				if ev.Status.Exists {
					t.Error("DELETED event with Exists = true")
				}
				break collect
			}
		case <-timeout:
			t.Fatalf("no DELETED event; saw %v", types)
		}
	}
	if len(types) < 3 || types[0] != kube.EventAdded || types[1] != kube.EventModified {
		t.Errorf("event sequence = %v, want ADDED, MODIFIED..., DELETED", types)
	}
	if !sawRunning {
		t.Errorf("no event carried phase Running: %v", types)
	}

	cancel()
	select {
	case _, ok := <-drain(events):
		if ok {
			t.Error("watch channel not closed after ctx cancel")
		}
	case <-time.After(Timeout):
		t.Error("watch channel not closed after ctx cancel")
	}
}

// drain discards buffered events and reports closure on the returned channel.
func drain(events <-chan kube.Event) <-chan kube.Event {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return events
			}
		default:
			return events
		}
	}
}

func testFaults(t *testing.T, p kube.Provider) {
	f, ok := p.(kube.Faults)
	if !ok {
		t.Skip("provider does not implement kube.Faults")
	}
	ctx, ns := ctxFor(t), newNS(t, p)
	spec := vmSpec(ns, "vm-fault", false)
	gr := schema.GroupResource{Group: "kubevirt.io", Resource: "virtualmachines"}

	f.FailNext("ApplyVM", apierrors.NewForbidden(gr, spec.Ref.Name, nil))
	_, err := p.ApplyVM(ctx, spec)
	if err == nil || kube.IsRetryable(err) || !kube.IsPermanent(err) {
		t.Errorf("injected forbidden: err = %v, want permanent", err)
	}
	_, err = p.ApplyVM(ctx, spec)
	must(t, "ApplyVM after one-shot fault", err)

	f.FailNext("GetVM", apierrors.NewServiceUnavailable("apiserver restarting"))
	if _, err := p.GetVM(ctx, spec.Ref); !kube.IsRetryable(err) {
		t.Errorf("injected 503: err = %v, want retryable", err)
	}
	_, err = p.GetVM(ctx, spec.Ref)
	must(t, "GetVM after one-shot fault", err)

	f.FailNext("StopVM", apierrors.NewNotFound(gr, spec.Ref.Name))
	if err := p.StopVM(ctx, spec.Ref); !kube.IsNotFound(err) {
		t.Errorf("injected not found: err = %v, want NotFound", err)
	}
}
