package kubevirt

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/runner"
)

// maxSyncWait bounds how long Watch waits for the informers' first list.
const maxSyncWait = time.Minute

// Watch implements kube.Provider with informers on VirtualMachines and their
// instances across all namespaces. Informers re-list on their own when a watch
// expires (410 Gone) or the connection drops, so the stream survives API server
// restarts; the channel closes only when ctx ends. Objects that existed before the
// call are not reported (the caller lists them itself); Watch returns once both
// informers have listed, so every change after it returns is seen.
func (p *Provider) Watch(ctx context.Context) (<-chan kube.Event, error) {
	if err := p.breaker.allow(); err != nil {
		return nil, err
	}
	ictx, stop := context.WithCancel(ctx)
	vms := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return p.client.VirtualMachine(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return p.client.VirtualMachine(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, &kubevirtv1.VirtualMachine{}, 0, cache.Indexers{})
	vmis := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return p.client.VirtualMachineInstance(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return p.client.VirtualMachineInstance(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, &kubevirtv1.VirtualMachineInstance{}, 0, cache.Indexers{})

	s := &stream{ctx: ictx, ch: make(chan kube.Event, 256), vms: vms.GetStore(), vmis: vmis.GetStore()}
	vmReg, err := vms.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				s.vmChanged(kube.EventAdded, obj)
			}
		},
		UpdateFunc: func(_, obj any) { s.vmChanged(kube.EventModified, obj) },
		DeleteFunc: func(obj any) { s.vmChanged(kube.EventDeleted, obj) },
	})
	if err != nil {
		stop()
		return nil, kube.Classify(err)
	}
	vmiReg, err := vmis.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				s.vmiChanged(obj)
			}
		},
		UpdateFunc: func(_, obj any) { s.vmiChanged(obj) },
		DeleteFunc: func(obj any) { s.vmiChanged(obj) },
	})
	if err != nil {
		stop()
		return nil, kube.Classify(err)
	}

	informers := runner.New(ictx, p.logger)
	informers.Go("vm informer "+p.name, func(ctx context.Context) error { vms.RunWithContext(ctx); return nil })
	informers.Go("vmi informer "+p.name, func(ctx context.Context) error { vmis.RunWithContext(ctx); return nil })
	closer := runner.New(context.Background(), p.logger)
	closer.Go("watch closer "+p.name, func(context.Context) error {
		<-ictx.Done()
		stop() // releases the context's resources once the parent ended
		informers.Wait()
		s.close()
		return nil
	})

	syncCtx, cancel := context.WithTimeout(ictx, min(p.opts.Timeout, maxSyncWait))
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), vmReg.HasSynced, vmiReg.HasSynced) {
		stop()
		err := fmt.Errorf("watch of cluster %s: the first list did not complete: %w", p.name, context.Cause(syncCtx))
		p.breaker.record(err)
		if ctx.Err() != nil {
			return nil, kube.Classify(ctx.Err())
		}
		return nil, kube.NewRetryable(kube.CodeClusterUnhealthy, err.Error())
	}
	p.breaker.record(nil)
	return s.ch, nil
}

// stream turns informer callbacks into kube.Events on one channel.
type stream struct {
	ctx  context.Context
	ch   chan kube.Event
	vms  cache.Store
	vmis cache.Store

	mu     sync.RWMutex
	closed bool
}

func (s *stream) vmChanged(typ string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	vm, ok := obj.(*kubevirtv1.VirtualMachine)
	if !ok {
		return
	}
	if typ == kube.EventDeleted {
		st := statusOf(vm, nil)
		st.Exists, st.Phase, st.Ready, st.IP, st.Node = false, kube.PhaseStopped, false, "", ""
		s.emit(kube.Event{Type: typ, Status: st})
		return
	}
	s.emit(kube.Event{Type: typ, Status: statusOf(vm, s.vmiOf(vm.Namespace, vm.Name))})
}

// vmiChanged reports the owning VM again: its IP, node and readiness come from the VMI.
func (s *stream) vmiChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	vmi, ok := obj.(*kubevirtv1.VirtualMachineInstance)
	if !ok {
		return
	}
	item, exists, err := s.vms.GetByKey(vmi.Namespace + "/" + vmi.Name)
	if err != nil || !exists {
		return
	}
	vm := item.(*kubevirtv1.VirtualMachine)
	s.emit(kube.Event{Type: kube.EventModified, Status: statusOf(vm, s.vmiOf(vm.Namespace, vm.Name))})
}

func (s *stream) vmiOf(namespace, name string) *kubevirtv1.VirtualMachineInstance {
	item, exists, err := s.vmis.GetByKey(namespace + "/" + name)
	if err != nil || !exists {
		return nil
	}
	return item.(*kubevirtv1.VirtualMachineInstance)
}

// emit blocks while the consumer is behind (back-pressure on the informer) and
// gives up when the watch ends.
func (s *stream) emit(ev kube.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- ev:
	case <-s.ctx.Done():
	}
}

func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}
