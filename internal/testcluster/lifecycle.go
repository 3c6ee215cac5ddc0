package testcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	v1 "kubevirt.io/api/core/v1"
)

// The start/stop/restart handlers reproduce KubeVirt's pkg/virt-api/rest/lifecycle.go: the same
// decisions, the same JSON patches (with test operations), the same error codes and messages,
// so callers see what a real cluster would tell them. Pause-on-start and grace periods on stop
// are accepted but only partly modelled (no virt-launcher pods exist to act on them).

const (
	vmNotRunning     = "VM is not running"
	jsonpatchTestErr = "jsonpatch test operation does not apply"
)

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func (a *virtAPI) start(w http.ResponseWriter, r *http.Request, ns, name string) {
	opts := &v1.StartOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeError(w, err)
		return
	}
	vm, vmi, err := a.fetch(r, ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	if vmi != nil && !vmi.IsFinal() && vmi.Status.Phase != v1.Unknown && vmi.Status.Phase != v1.VmPhaseUnset {
		writeError(w, conflict(name, "VM is already running"))
		return
	}
	strategy, err := vm.RunStrategy()
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	switch strategy {
	case v1.RunStrategyHalted:
		a.patchSpec(w, r, vm, true, opts.DryRun)
	case v1.RunStrategyRerunOnFailure, v1.RunStrategyManual:
		if strategy == v1.RunStrategyRerunOnFailure && vmi != nil && vmi.Status.Phase == v1.Failed {
			writeError(w, conflict(name, fmt.Sprintf("%v does not support starting VM from failed state", strategy)))
			return
		}
		changes := []v1.VirtualMachineStateChangeRequest{{Action: v1.StartRequest}}
		if vmi != nil && vmi.IsFinal() {
			changes = []v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &vmi.UID}, {Action: v1.StartRequest}}
		}
		a.patchChangeRequests(w, r, vm, opts.DryRun, changes...)
	default: // Always, Once
		writeError(w, conflict(name, fmt.Sprintf("%v does not support manual start requests", strategy)))
	}
}

func (a *virtAPI) stop(w http.ResponseWriter, r *http.Request, ns, name string) {
	opts := &v1.StopOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeError(w, err)
		return
	}
	vm, vmi, err := a.fetch(r, ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	strategy, err := vm.RunStrategy()
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	running := vmi != nil && !vmi.IsFinal()
	switch strategy {
	case v1.RunStrategyHalted:
		if !running {
			writeError(w, conflict(name, vmNotRunning))
			return
		}
		old := vmi.Spec.TerminationGracePeriodSeconds
		if opts.GracePeriod == nil || (old != nil && *opts.GracePeriod >= *old) {
			writeError(w, conflict(name, fmt.Sprintf("%v only supports manual stop requests with a shorter graceperiod", strategy)))
			return
		}
		a.patchChangeRequests(w, r, vm, opts.DryRun, v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID})
	case v1.RunStrategyRerunOnFailure, v1.RunStrategyManual:
		if !running {
			writeError(w, conflict(name, vmNotRunning))
			return
		}
		a.patchChangeRequests(w, r, vm, opts.DryRun, v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID})
	default: // Always, Once
		a.patchSpec(w, r, vm, false, opts.DryRun)
	}
}

func (a *virtAPI) restart(w http.ResponseWriter, r *http.Request, ns, name string) {
	opts := &v1.RestartOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeError(w, err)
		return
	}
	if g := opts.GracePeriodSeconds; g != nil && *g > 0 {
		writeError(w, apierrors.NewBadRequest("For force restart, only gracePeriod=0 is supported for now"))
		return
	} else if g != nil && *g < 0 {
		writeError(w, apierrors.NewBadRequest("gracePeriod has to be greater or equal to 0"))
		return
	}
	vm, vmi, err := a.fetch(r, ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	strategy, err := vm.RunStrategy()
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	if strategy == v1.RunStrategyHalted || strategy == v1.RunStrategyOnce {
		// Sic: KubeVirt spells it "RunStategy".
		writeError(w, conflict(name, fmt.Sprintf("RunStategy %v does not support manual restart requests", strategy)))
		return
	}
	if vmi == nil {
		writeError(w, conflict(name, fmt.Sprintf("%s: %v", vmNotRunning, v1.RunStrategyHalted)))
		return
	}
	a.patchChangeRequests(w, r, vm, opts.DryRun,
		v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID},
		v1.VirtualMachineStateChangeRequest{Action: v1.StartRequest})
}

// fetch returns the VM (404 when missing) and its VMI (nil when missing).
func (a *virtAPI) fetch(r *http.Request, ns, name string) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
	vm, err := a.kv.VirtualMachine(ns).Get(r.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, apierrors.NewNotFound(v1.Resource("virtualmachine"), name)
	} else if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	vmi, err := a.kv.VirtualMachineInstance(ns).Get(r.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return vm, nil, nil
	} else if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	return vm, vmi, nil
}

// patchSpec flips spec.runStrategy (or the legacy spec.running) with a test operation, so a
// concurrent change makes the request fail with 409 instead of being overwritten.
func (a *virtAPI) patchSpec(w http.ResponseWriter, r *http.Request, vm *v1.VirtualMachine, running bool, dryRun []string) {
	strategy := v1.RunStrategyHalted
	if running {
		strategy = v1.RunStrategyAlways
	}
	ops := []patchOp{{"test", "/spec/running", vm.Spec.Running}, {"replace", "/spec/running", running}}
	if vm.Spec.RunStrategy != nil {
		ops = []patchOp{{"test", "/spec/runStrategy", vm.Spec.RunStrategy}, {"replace", "/spec/runStrategy", strategy}}
	}
	a.patch(w, r, vm, ops, dryRun, "")
}

// patchChangeRequests appends state change requests for the controller, like KubeVirt's
// getChangeRequestJson: a whole new status when there is none, otherwise a test on the current
// requests, and a refusal when a stop/start is already underway.
func (a *virtAPI) patchChangeRequests(w http.ResponseWriter, r *http.Request, vm *v1.VirtualMachine, dryRun []string, changes ...v1.VirtualMachineStateChangeRequest) {
	var ops []patchOp
	if equality.Semantic.DeepEqual(vm.Status, v1.VirtualMachineStatus{}) {
		ops = append(ops, patchOp{"add", "/status", v1.VirtualMachineStatus{StateChangeRequests: changes}})
	} else {
		ops = append(ops, patchOp{"test", "/status/stateChangeRequests", vm.Status.StateChangeRequests})
		switch {
		case len(vm.Status.StateChangeRequests) == 0:
			ops = append(ops, patchOp{"add", "/status/stateChangeRequests", changes})
		case len(changes) == 1 && changes[0].Action == v1.StopRequest:
			ops = append(ops, patchOp{"replace", "/status/stateChangeRequests", changes})
		default:
			writeError(w, apierrors.NewInternalError(errors.New("unable to complete request: stop/start already underway")))
			return
		}
	}
	if vm.Status.StartFailure != nil {
		ops = append(ops, patchOp{Op: "remove", Path: "/status/startFailure"})
	}
	a.patch(w, r, vm, ops, dryRun, "status")
}

func (a *virtAPI) patch(w http.ResponseWriter, r *http.Request, vm *v1.VirtualMachine, ops []patchOp, dryRun []string, sub string) {
	body, err := json.Marshal(ops)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	var subs []string
	if sub != "" {
		subs = append(subs, sub)
	}
	_, err = a.kv.VirtualMachine(vm.Namespace).Patch(r.Context(), vm.Name, types.JSONPatchType, body,
		metav1.PatchOptions{DryRun: dryRun}, subs...)
	if err != nil {
		if strings.Contains(err.Error(), jsonpatchTestErr) {
			writeError(w, apierrors.NewConflict(v1.Resource("virtualmachine"), vm.Name, err))
		} else {
			writeError(w, apierrors.NewInternalError(err))
		}
		return
	}
	a.log.Debug("lifecycle request accepted", "vm", vm.Namespace+"/"+vm.Name, "user", r.Header.Get("X-Remote-User"), "patch", string(body))
	w.WriteHeader(http.StatusAccepted)
}

func conflict(name, msg string) error {
	return apierrors.NewConflict(v1.Resource("virtualmachine"), name, errors.New(msg))
}

// decodeBody reads optional JSON options; an empty body means defaults.
func decodeBody(r *http.Request, into any) error {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, into); err != nil {
		return apierrors.NewBadRequest("Can not unmarshal Request body to struct, error: " + err.Error())
	}
	return nil
}

// writeError answers with a metav1.Status, which client-go turns back into a StatusError.
func writeError(w http.ResponseWriter, err error) {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}
