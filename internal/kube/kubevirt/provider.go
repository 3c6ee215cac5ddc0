// Package kubevirt is the kube.Provider that talks to a real cluster through
// kubevirt.io/client-go: server-side apply of rendered VirtualMachines, the
// start/stop/restart subresources of virt-api, informers for status, and
// capability detection from nodes, storage classes and the KubeVirt CR.
package kubevirt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/kubecli"

	"kv-shepherd.io/shepherd/internal/kube"
)

// Options tune a provider; the zero value is production's defaults.
type Options struct {
	// Timeout bounds every call to the cluster (K8S_OPERATION_TIMEOUT). Default 5m.
	Timeout time.Duration
	// QPS and Burst are client-go's client-side rate limit. Defaults 50 and 100:
	// client-go's own (5/10) throttle a worker pool of 20 after a handful of calls.
	QPS   float32
	Burst int
	// Breaker opens after this many consecutive unreachable/5xx failures. Default 5.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker fails calls fast. Default 60s.
	BreakerCooldown time.Duration
	Logger          *slog.Logger
}

// Provider is one real cluster.
type Provider struct {
	name    string
	client  kubecli.KubevirtClient
	opts    Options
	breaker *breaker
	logger  *slog.Logger
}

var _ kube.Provider = (*Provider)(nil)

// New builds a provider for the cluster named name from a kubeconfig (see
// ParseKubeconfig for what is accepted). Nothing is dialled yet.
func New(name string, kubeconfig []byte, opts Options) (*Provider, error) {
	rc, _, err := ParseKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return NewFromREST(name, rc, opts)
}

// NewFromREST builds a provider from a REST config (tests, in-cluster use).
func NewFromREST(name string, rc *rest.Config, opts Options) (*Provider, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.QPS <= 0 {
		opts.QPS = 50
	}
	if opts.Burst <= 0 {
		opts.Burst = 100
	}
	if opts.BreakerFailures <= 0 {
		opts.BreakerFailures = 5
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = opts.QPS, opts.Burst
	rc.UserAgent = "kubevirt-shepherd"
	client, err := kubecli.GetKubevirtClientFromRESTConfig(rc)
	if err != nil {
		return nil, kube.NewPermanent(kube.CodeValidationFailed, "cannot build a client from the kubeconfig: "+err.Error())
	}
	return &Provider{
		name:    name,
		client:  client,
		opts:    opts,
		breaker: newBreaker(opts.BreakerFailures, opts.BreakerCooldown),
		logger:  opts.Logger.With("cluster", name),
	}, nil
}

// call runs one cluster call under the per-call timeout and the circuit breaker,
// and classifies its error.
func (p *Provider) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := p.breaker.allow(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	err := fn(ctx)
	p.breaker.record(err)
	if err == nil {
		return nil
	}
	return kube.Classify(err)
}

// EnsureNamespace implements kube.Provider. A service account allowed to use a
// namespace but not to create namespaces is common: a Forbidden create of a
// namespace that exists is success.
func (p *Provider) EnsureNamespace(ctx context.Context, name string, labels map[string]string) (bool, error) {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return false, kube.NewPermanent(kube.CodeNamespaceNameInvalid,
			fmt.Sprintf("namespace %q: %s", name, strings.Join(errs, "; ")))
	}
	created := false
	err := p.call(ctx, func(ctx context.Context) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		_, err := p.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: kube.FieldManager})
		switch {
		case err == nil:
			created = true
			return nil
		case apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsForbidden(err):
			if _, gerr := p.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return false, kube.ClassifyNamespace(err)
	}
	return created, nil
}

// ApplyVM implements kube.Provider by server-side apply of the rendered
// VirtualMachine with Shepherd's field manager and force: Shepherd owns the
// fields it renders, and a kubectl edit of them is overwritten on the next apply.
func (p *Provider) ApplyVM(ctx context.Context, spec kube.VMSpec) (kube.VMStatus, error) {
	if err := kube.ValidateSpec(spec); err != nil {
		return kube.VMStatus{}, err
	}
	body, err := json.Marshal(kube.RenderVM(spec))
	if err != nil {
		return kube.VMStatus{}, kube.NewPermanent(kube.CodeValidationFailed, "render VM: "+err.Error())
	}
	var st kube.VMStatus
	err = p.call(ctx, func(ctx context.Context) error {
		force := true
		vm, err := p.client.VirtualMachine(spec.Ref.Namespace).Patch(ctx, spec.Ref.Name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: kube.FieldManager, Force: &force})
		if err != nil {
			return err
		}
		vmi, err := p.getVMI(ctx, spec.Ref)
		if err != nil {
			return err
		}
		st = statusOf(vm, vmi)
		return nil
	})
	return st, err
}

// DryRunApplyVM validates spec against the cluster's admission and schema without
// creating anything (server-side apply with dry-run All).
func (p *Provider) DryRunApplyVM(ctx context.Context, spec kube.VMSpec, vm *kubevirtv1.VirtualMachine) error {
	if vm == nil {
		vm = kube.RenderVM(spec)
	}
	body, err := json.Marshal(vm)
	if err != nil {
		return kube.NewPermanent(kube.CodeValidationFailed, "render VM: "+err.Error())
	}
	return p.call(ctx, func(ctx context.Context) error {
		force := true
		_, err := p.client.VirtualMachine(vm.Namespace).Patch(ctx, vm.Name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: kube.FieldManager, Force: &force, DryRun: []string{metav1.DryRunAll}})
		return err
	})
}

// StartVM implements kube.Provider through virt-api's start subresource. virt-api
// answers 409 for a VM that already runs (or whose run strategy is Always): that is
// the state asked for, so a retried job succeeds.
func (p *Provider) StartVM(ctx context.Context, ref kube.VMRef) error {
	return p.power(ctx, ref, "start", func(ctx context.Context) error {
		return p.client.VirtualMachine(ref.Namespace).Start(ctx, ref.Name, &kubevirtv1.StartOptions{})
	}, func(vm *kubevirtv1.VirtualMachine) bool { return runStrategy(vm) == kubevirtv1.RunStrategyAlways })
}

// StopVM implements kube.Provider; a VM already halted is success.
func (p *Provider) StopVM(ctx context.Context, ref kube.VMRef) error {
	return p.power(ctx, ref, "stop", func(ctx context.Context) error {
		return p.client.VirtualMachine(ref.Namespace).Stop(ctx, ref.Name, &kubevirtv1.StopOptions{})
	}, func(vm *kubevirtv1.VirtualMachine) bool { return runStrategy(vm) == kubevirtv1.RunStrategyHalted })
}

// RestartVM implements kube.Provider. Restarting a VM that is not running is a
// permanent conflict, as on the simulator: retrying cannot make it run.
func (p *Provider) RestartVM(ctx context.Context, ref kube.VMRef) error {
	err := p.power(ctx, ref, "restart", func(ctx context.Context) error {
		return p.client.VirtualMachine(ref.Namespace).Restart(ctx, ref.Name, &kubevirtv1.RestartOptions{})
	}, func(*kubevirtv1.VirtualMachine) bool { return false })
	if ke := kube.Classify(err); ke != nil && ke.Code == kube.CodeConflict {
		st, gerr := p.GetVM(ctx, ref)
		if gerr == nil && (st.Phase == kube.PhaseStopped || st.Phase == kube.PhaseStopping) {
			return kube.NewPermanent(kube.CodeConflict, "virtual machine "+ref.String()+" is not running")
		}
	}
	return err
}

// power calls a power subresource. A 409 whose VM is already where the call would
// take it (done reports that) is success; a terminating VM is a permanent conflict.
func (p *Provider) power(ctx context.Context, ref kube.VMRef, op string, fn func(context.Context) error,
	done func(*kubevirtv1.VirtualMachine) bool) error {
	if err := kube.ValidateRef(ref); err != nil {
		return err
	}
	err := p.call(ctx, fn)
	if err == nil {
		return nil
	}
	ke := kube.Classify(err)
	switch {
	case ke.Kind == kube.NotFound:
		return kube.NewVMNotFound(ref)
	case ke.Code != kube.CodeConflict:
		return err
	}
	var vm *kubevirtv1.VirtualMachine
	gerr := p.call(ctx, func(ctx context.Context) (e error) {
		vm, e = p.client.VirtualMachine(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		return e
	})
	switch {
	case kube.IsNotFound(gerr):
		return kube.NewVMNotFound(ref)
	case gerr != nil:
		return err
	case vm.DeletionTimestamp != nil:
		return kube.NewPermanent(kube.CodeConflict, "virtual machine "+ref.String()+" is being deleted")
	case done(vm):
		p.logger.Debug("power operation already in effect", "op", op, "vm", ref.String())
		return nil
	}
	return err
}

// DeleteVM implements kube.Provider. Background propagation: the VirtualMachine goes
// at once and the garbage collector removes its VMI and DataVolumes.
func (p *Provider) DeleteVM(ctx context.Context, ref kube.VMRef) error {
	if err := kube.ValidateRef(ref); err != nil {
		return err
	}
	err := p.call(ctx, func(ctx context.Context) error {
		policy := metav1.DeletePropagationBackground
		return p.client.VirtualMachine(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	})
	if kube.IsNotFound(err) {
		return kube.NewVMNotFound(ref)
	}
	return err
}

// GetVM implements kube.Provider: the VM joined with its VMI.
func (p *Provider) GetVM(ctx context.Context, ref kube.VMRef) (kube.VMStatus, error) {
	if err := kube.ValidateRef(ref); err != nil {
		return kube.VMStatus{}, err
	}
	var st kube.VMStatus
	err := p.call(ctx, func(ctx context.Context) error {
		vm, err := p.client.VirtualMachine(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		vmi, err := p.getVMI(ctx, ref)
		if err != nil {
			return err
		}
		st = statusOf(vm, vmi)
		return nil
	})
	if kube.IsNotFound(err) {
		return kube.VMStatus{}, kube.NewVMNotFound(ref)
	}
	return st, err
}

// getVMI returns the VM's instance, or nil when it has none.
func (p *Provider) getVMI(ctx context.Context, ref kube.VMRef) (*kubevirtv1.VirtualMachineInstance, error) {
	vmi, err := p.client.VirtualMachineInstance(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return vmi, err
}

// ListVMs implements kube.Provider, one namespace or all, sorted by namespace then name.
func (p *Provider) ListVMs(ctx context.Context, namespace string) ([]kube.VMStatus, error) {
	var out []kube.VMStatus
	err := p.call(ctx, func(ctx context.Context) error {
		vms, err := p.client.VirtualMachine(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		vmis, err := p.client.VirtualMachineInstance(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		byRef := make(map[kube.VMRef]*kubevirtv1.VirtualMachineInstance, len(vmis.Items))
		for i := range vmis.Items {
			v := &vmis.Items[i]
			byRef[kube.VMRef{Namespace: v.Namespace, Name: v.Name}] = v
		}
		out = make([]kube.VMStatus, 0, len(vms.Items))
		for i := range vms.Items {
			vm := &vms.Items[i]
			out = append(out, statusOf(vm, byRef[kube.VMRef{Namespace: vm.Namespace, Name: vm.Name}]))
		}
		return nil
	})
	sortStatuses(out)
	return out, err
}

func runStrategy(vm *kubevirtv1.VirtualMachine) kubevirtv1.VirtualMachineRunStrategy {
	rs, err := vm.RunStrategy()
	if err != nil {
		return ""
	}
	return rs
}
