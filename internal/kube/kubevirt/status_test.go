package kubevirt

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"kv-shepherd.io/shepherd/internal/kube"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	always, halted := kubevirtv1.RunStrategyAlways, kubevirtv1.RunStrategyHalted
	vm := func(rs kubevirtv1.VirtualMachineRunStrategy, ps kubevirtv1.VirtualMachinePrintableStatus, ready bool) *kubevirtv1.VirtualMachine {
		return &kubevirtv1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "vm", UID: "u1", Labels: map[string]string{"a": "b"}},
			Spec:       kubevirtv1.VirtualMachineSpec{RunStrategy: &rs},
			Status:     kubevirtv1.VirtualMachineStatus{PrintableStatus: ps, Ready: ready},
		}
	}
	running := &kubevirtv1.VirtualMachineInstance{Status: kubevirtv1.VirtualMachineInstanceStatus{
		Phase:      kubevirtv1.Running,
		NodeName:   "node-1",
		Interfaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{{IP: "10.1.2.3"}},
	}}
	failed := vm(always, kubevirtv1.VirtualMachineStatusErrImagePull, false)
	failed.Status.Conditions = []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineReady, Status: "False", Message: "image not found"}}
	deleting := vm(always, kubevirtv1.VirtualMachineStatusRunning, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	for name, tc := range map[string]struct {
		vm    *kubevirtv1.VirtualMachine
		vmi   *kubevirtv1.VirtualMachineInstance
		phase kube.Phase
		ready bool
		ip    string
		msg   string
	}{
		"running":        {vm(always, kubevirtv1.VirtualMachineStatusRunning, true), running, kube.PhaseRunning, true, "10.1.2.3", ""},
		"stopped":        {vm(halted, kubevirtv1.VirtualMachineStatusStopped, false), nil, kube.PhaseStopped, false, "", ""},
		"stopping":       {vm(halted, kubevirtv1.VirtualMachineStatusStopping, true), running, kube.PhaseStopping, false, "", ""},
		"starting":       {vm(always, kubevirtv1.VirtualMachineStatusStarting, false), nil, kube.PhaseStarting, false, "", ""},
		"unseen running": {vm(always, "", false), nil, kube.PhasePending, false, "", ""},
		"unseen halted":  {vm(halted, "", false), nil, kube.PhaseStopped, false, "", ""},
		"image pull":     {failed, nil, kube.PhaseFailed, false, "", "ErrImagePull: image not found"},
		"deleting":       {deleting, running, kube.PhaseStopping, false, "", "Terminating"},
		"odd status":     {vm(always, "SomethingNew", false), nil, kube.PhaseUnknown, false, "", "SomethingNew"},
	} {
		st := statusOf(tc.vm, tc.vmi)
		if st.Phase != tc.phase || st.Ready != tc.ready || st.IP != tc.ip || st.Message != tc.msg {
			t.Errorf("%s: got phase %s ready %v ip %q msg %q", name, st.Phase, st.Ready, st.IP, st.Message)
		}
		if !st.Exists || st.UID != "u1" || st.Ref.String() != "ns/vm" || st.Labels["a"] != "b" {
			t.Errorf("%s: identity lost: %+v", name, st)
		}
		if st.IP != "" && st.Node != "node-1" {
			t.Errorf("%s: node = %q", name, st.Node)
		}
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	b := newBreaker(3, time.Minute)
	b.now = func() time.Time { return now }
	down := kube.NewRetryable(kube.CodeClusterUnhealthy, "connection refused")
	for range 3 {
		if err := b.allow(); err != nil {
			t.Fatalf("closed breaker refused: %v", err)
		}
		b.record(down)
	}
	if err := b.allow(); !kube.IsRetryable(err) {
		t.Fatalf("open breaker: err = %v", err)
	}
	now = now.Add(61 * time.Second)
	if err := b.allow(); err != nil {
		t.Fatalf("probe refused after cooldown: %v", err)
	}
	if err := b.allow(); err == nil {
		t.Fatal("a second caller got through while probing")
	}
	b.record(kube.NewPermanent(kube.CodePermissionDenied, "forbidden")) // an answer: the server is up
	if err := b.allow(); err != nil {
		t.Fatalf("breaker still open after an answer: %v", err)
	}
	b.record(errors.Join(kube.NewRetryable(kube.CodeConflict, "conflict")))
	if b.failures != 0 {
		t.Errorf("a conflict counted as unreachable")
	}
}
