package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/kubecli"

	"kv-shepherd.io/shepherd/internal/runner"
)

// controller is the stand-in virt-controller (plus the bits of virt-handler that report a VMI
// as running). It follows the usual informer + work-queue shape, so watch expiry (410 Gone)
// and relists are handled by client-go's reflector, and every decision is re-derived from the
// cached objects: a stale cache only costs a conflict or AlreadyExists and a retry.
type controller struct {
	kv    kubecli.KubevirtClient
	vms   cache.SharedIndexInformer
	vmis  cache.SharedIndexInformer
	queue workqueue.TypedRateLimitingInterface[string]
	delay time.Duration
	log   *slog.Logger

	mu    sync.Mutex
	since map[string]time.Time // "<vmi uid>/<transition>" -> when the transition began
}

// resync re-enqueues every VM and VMI periodically, a safety net for missed events.
const resync = 30 * time.Second

func startController(ctx context.Context, r *runner.Runner, kv kubecli.KubevirtClient, delay time.Duration, log *slog.Logger) error {
	if delay < 0 {
		delay = 0
	}
	api := kv.GeneratedKubeVirtClient().KubevirtV1()
	c := &controller{kv: kv, delay: delay, log: log.With("component", "testcluster-virt-controller"),
		since: map[string]time.Time{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "testcluster"}),
	}
	c.vms = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return api.VirtualMachines(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.VirtualMachines(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, &v1.VirtualMachine{}, resync, cache.Indexers{})
	c.vmis = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return api.VirtualMachineInstances(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.VirtualMachineInstances(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, &v1.VirtualMachineInstance{}, resync, cache.Indexers{})
	// VM and VMI share namespace/name, so one key covers both.
	enqueue := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.enqueue(o) },
		UpdateFunc: func(_, o any) { c.enqueue(o) },
		DeleteFunc: func(o any) { c.enqueue(o) },
	}
	if _, err := c.vms.AddEventHandler(enqueue); err != nil {
		return err
	}
	if _, err := c.vmis.AddEventHandler(enqueue); err != nil {
		return err
	}
	r.Go("testcluster-vm-informer", func(ctx context.Context) error { c.vms.RunWithContext(ctx); return nil })
	r.Go("testcluster-vmi-informer", func(ctx context.Context) error { c.vmis.RunWithContext(ctx); return nil })
	r.Go("testcluster-queue-shutdown", func(ctx context.Context) error {
		<-ctx.Done()
		c.queue.ShutDown()
		return nil
	})
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), c.vms.HasSynced, c.vmis.HasSynced) {
		return fmt.Errorf("testcluster: virt-controller caches did not sync")
	}
	for i := range 2 {
		r.Go(fmt.Sprintf("testcluster-virt-controller-%d", i), func(ctx context.Context) error {
			for c.next(ctx) {
			}
			return nil
		})
	}
	return nil
}

func (c *controller) enqueue(o any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(o); err == nil {
		c.queue.Add(key)
	}
}

func (c *controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.reconcile(ctx, key); err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			c.log.Debug("reconcile failed, retrying", "key", key, "err", err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// reconcile drives one VM/VMI pair a single step towards what the VM asks for.
func (c *controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	var vm *v1.VirtualMachine
	var vmi *v1.VirtualMachineInstance
	if o, ok, _ := c.vms.GetIndexer().GetByKey(key); ok {
		vm = o.(*v1.VirtualMachine).DeepCopy()
	}
	if o, ok, _ := c.vmis.GetIndexer().GetByKey(key); ok {
		vmi = o.(*v1.VirtualMachineInstance).DeepCopy()
	}
	vmis := c.kv.VirtualMachineInstance(ns)

	if vmi != nil && vmi.DeletionTimestamp != nil {
		if vmi, err = c.finishStopping(ctx, key, vmi); err != nil {
			return err
		}
	}
	if vmi != nil && vmi.DeletionTimestamp == nil {
		// No garbage collector runs, so the controller deletes what a VM owned once that VM
		// is gone (or replaced by a new VM of the same name).
		if ref := metav1.GetControllerOf(vmi); ref != nil && ref.Kind == "VirtualMachine" && (vm == nil || ref.UID != vm.UID) {
			if err := ignoreNotFound(vmis.Delete(ctx, name, metav1.DeleteOptions{})); err != nil {
				return err
			}
			vmi.DeletionTimestamp = ptrNow()
		}
	}
	if vm == nil {
		// A standalone VMI (no VM) still boots, as in KubeVirt.
		if vmi != nil && vmi.DeletionTimestamp == nil && vmi.Status.Phase != v1.Running {
			_, err := c.advance(ctx, key, vmi)
			return err
		}
		return nil
	}

	strategy, err := vm.RunStrategy()
	if err != nil {
		return nil // invalid spec (running and runStrategy both set): nothing sensible to do
	}
	reqs := vm.Status.StateChangeRequests
	stopPending := false
	if len(reqs) > 0 && reqs[0].Action == v1.StopRequest {
		if vmi != nil && (reqs[0].UID == nil || *reqs[0].UID == vmi.UID) {
			stopPending = true
			if vmi.DeletionTimestamp == nil {
				if err := ignoreNotFound(vmis.Delete(ctx, name, metav1.DeleteOptions{})); err != nil {
					return err
				}
				vmi.DeletionTimestamp = ptrNow()
			}
		} else {
			reqs = reqs[1:] // the VMI it named is gone: the stop is done
		}
	}
	startRequested := false
	if !stopPending && len(reqs) > 0 && reqs[0].Action == v1.StartRequest {
		startRequested, reqs = true, reqs[1:]
	}

	want := false
	switch strategy {
	case v1.RunStrategyAlways, v1.RunStrategyRerunOnFailure, v1.RunStrategyOnce:
		want = true
	case v1.RunStrategyManual:
		want = startRequested || (vmi != nil && vmi.DeletionTimestamp == nil)
	}
	if vm.DeletionTimestamp != nil {
		want = false
	}
	switch {
	case want && vmi == nil && !stopPending && vm.Spec.Template != nil:
		if vmi, err = vmis.Create(ctx, newVMI(vm), metav1.CreateOptions{}); err != nil {
			return ignoreAlreadyExists(err)
		}
		c.mark(vmi.UID, "start")
	case !want && vmi != nil && vmi.DeletionTimestamp == nil:
		if err := ignoreNotFound(vmis.Delete(ctx, name, metav1.DeleteOptions{})); err != nil {
			return err
		}
		vmi.DeletionTimestamp = ptrNow()
	case vmi != nil && vmi.DeletionTimestamp == nil && vmi.Status.Phase != v1.Running:
		if vmi, err = c.advance(ctx, key, vmi); err != nil {
			return err
		}
	}

	status := vmStatus(vm, vmi, want && !stopPending, strategy)
	status.StateChangeRequests = reqs
	if len(reqs) == 0 {
		status.StateChangeRequests = nil
	}
	if statusEqual(vm.Status, status) {
		return nil
	}
	vm.Status = status
	_, err = c.kv.VirtualMachine(ns).UpdateStatus(ctx, vm, metav1.UpdateOptions{})
	return ignoreNotFound(err)
}

// advance moves a new VMI through Scheduling to Running, each step after the start delay,
// which is what a scheduler, a kubelet and virt-handler would take seconds to do.
func (c *controller) advance(ctx context.Context, key string, vmi *v1.VirtualMachineInstance) (*v1.VirtualMachineInstance, error) {
	if wait := c.remaining(vmi.UID, "start"); wait > 0 {
		if vmi.Status.Phase == "" || vmi.Status.Phase == v1.Pending {
			vmi.Status.Phase = v1.Scheduling
			vmi.Status.PhaseTransitionTimestamps = append(vmi.Status.PhaseTransitionTimestamps,
				v1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: v1.Scheduling, PhaseTransitionTimestamp: metav1.Now()})
			updated, err := c.kv.VirtualMachineInstance(vmi.Namespace).Update(ctx, vmi, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			vmi = updated
		}
		c.queue.AddAfter(key, wait)
		return vmi, nil
	}
	setRunning(vmi)
	updated, err := c.kv.VirtualMachineInstance(vmi.Namespace).Update(ctx, vmi, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	c.forget(vmi.UID, "start")
	return updated, nil
}

// finishStopping lets a deleted VMI linger as "shutting down" for the delay, then marks it
// Succeeded and drops the finalizer so it disappears, as virt-handler does after the guest
// has stopped. The returned VMI is nil once it is gone.
func (c *controller) finishStopping(ctx context.Context, key string, vmi *v1.VirtualMachineInstance) (*v1.VirtualMachineInstance, error) {
	if !hasFinalizer(vmi, v1.VirtualMachineInstanceFinalizer) {
		return vmi, nil // not ours: the API server removes it by itself
	}
	if wait := c.remaining(vmi.UID, "stop"); wait > 0 {
		c.queue.AddAfter(key, wait)
		return vmi, nil
	}
	vmi.Status.Phase = v1.Succeeded
	vmi.Status.Conditions = nil
	vmi.Finalizers = removeString(vmi.Finalizers, v1.VirtualMachineInstanceFinalizer)
	if _, err := c.kv.VirtualMachineInstance(vmi.Namespace).Update(ctx, vmi, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	c.forget(vmi.UID, "stop")
	c.forget(vmi.UID, "start") // in case it was deleted before it ever ran
	return nil, nil
}

// remaining starts the clock for a transition on first sight and returns how long is left.
func (c *controller) remaining(uid types.UID, what string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := string(uid) + "/" + what
	t, ok := c.since[k]
	if !ok {
		t = time.Now()
		c.since[k] = t
	}
	return c.delay - time.Since(t)
}

func (c *controller) mark(uid types.UID, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since[string(uid)+"/"+what] = time.Now()
}

func (c *controller) forget(uid types.UID, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.since, string(uid)+"/"+what)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ignoreAlreadyExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func hasFinalizer(o metav1.Object, f string) bool {
	for _, x := range o.GetFinalizers() {
		if x == f {
			return true
		}
	}
	return false
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func ptrNow() *metav1.Time {
	t := metav1.Now()
	return &t
}
