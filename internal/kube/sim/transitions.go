package sim

import (
	"context"
	"fmt"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
)

// startLocked moves v towards Running: Starting now, Running one step later.
func (c *Cluster) startLocked(v *vm) {
	c.setPhaseLocked(v, kube.PhaseStarting)
	c.emitLocked(kube.EventModified, v)
	c.replanLocked(v, kube.PhaseRunning)
}

// stopLocked moves v towards Stopped: Stopping now, Stopped one step later.
func (c *Cluster) stopLocked(v *vm) {
	c.setPhaseLocked(v, kube.PhaseStopping)
	c.emitLocked(kube.EventModified, v)
	c.replanLocked(v, kube.PhaseStopped)
}

// replanLocked replaces v's pending phases. Bumping epoch invalidates a timer
// that already fired and is waiting for mu, which Stop cannot prevent.
func (c *Cluster) replanLocked(v *vm, phases ...kube.Phase) {
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
	v.epoch++
	v.plan = phases
	c.scheduleLocked(v)
}

// scheduleLocked runs the plan: synchronously with zero StepDelay (so tests
// need no sleeping), otherwise one step per StepDelay via time.AfterFunc.
func (c *Cluster) scheduleLocked(v *vm) {
	if c.opts.StepDelay <= 0 {
		for c.stepLocked(v) {
		}
		return
	}
	if len(v.plan) == 0 && !v.deleting {
		return
	}
	epoch := v.epoch
	v.timer = time.AfterFunc(c.opts.StepDelay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if v.epoch != epoch || c.vms[v.spec.Ref] != v {
			return // replanned or deleted meanwhile
		}
		v.timer = nil
		if c.stepLocked(v) {
			c.scheduleLocked(v)
		}
		// Nobody to report a failed write to; dirty stays set and the next
		// call writes again (and returns the error if it still fails).
		_ = c.commitLocked()
	})
}

// stepLocked applies the next planned phase (or finishes a deletion) and
// reports whether more steps remain.
func (c *Cluster) stepLocked(v *vm) bool {
	if len(v.plan) == 0 {
		if v.deleting {
			c.removeLocked(v)
		}
		return false
	}
	p := v.plan[0]
	v.plan = v.plan[1:]
	c.setPhaseLocked(v, p)
	c.emitLocked(kube.EventModified, v)
	return len(v.plan) > 0 || v.deleting
}

// setPhaseLocked keeps the derived fields consistent with the phase the way
// KubeVirt does: a node once scheduled, an IP and Ready only while running,
// both gone once the VMI is torn down. Starting is a new VMI (also after a
// restart), so the old address is dropped until it runs again.
func (c *Cluster) setPhaseLocked(v *vm, p kube.Phase) {
	if p != kube.PhaseRunning {
		c.closeConsoleLocked(v) // the VMI, and its VNC socket, is going away
	}
	v.status.Phase = p
	v.status.Ready = p == kube.PhaseRunning
	v.status.Message = ""
	switch p {
	case kube.PhaseStarting, kube.PhaseRunning:
		if p == kube.PhaseStarting {
			v.status.IP = ""
		}
		if v.status.Node == "" {
			v.status.Node = c.opts.Nodes[c.nextNode%len(c.opts.Nodes)]
			c.nextNode++
		}
		if p == kube.PhaseRunning && v.status.IP == "" {
			c.nextIP++
			v.status.IP = fmt.Sprintf("10.244.%d.%d", (c.nextIP/250)%250, c.nextIP%250+2)
		}
	case kube.PhaseStopped:
		v.status.IP, v.status.Node = "", ""
	}
}

// removeLocked deletes v and emits DELETED with its last status.
func (c *Cluster) removeLocked(v *vm) {
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
	v.epoch++
	v.plan = nil
	c.closeConsoleLocked(v)
	if c.vms[v.spec.Ref] == v {
		delete(c.vms, v.spec.Ref)
	}
	v.status.Exists = false
	v.status.Ready = false
	c.emitLocked(kube.EventDeleted, v)
}

// Watch implements kube.Provider. Events are sent without blocking while mu
// is held; a watcher whose buffer is full is closed rather than silently
// losing an event, the same contract as an API server dropping a slow
// watch: the consumer re-lists and re-watches.
func (c *Cluster) Watch(ctx context.Context) (<-chan kube.Event, error) {
	if err := c.enter(ctx, OpWatch); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	w := &watcher{ch: make(chan kube.Event, c.opts.WatchBuffer)}
	c.watchers[w] = struct{}{}
	// The callback needs mu, which we hold, so w.stop is set before it runs.
	w.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closeWatcherLocked(w)
	})
	return w.ch, nil
}

// emitLocked announces a change of v to every watcher. Every change goes
// through here, so it is also where the change is marked for saving.
func (c *Cluster) emitLocked(typ string, v *vm) {
	c.dirty = true
	for w := range c.watchers {
		select {
		case w.ch <- kube.Event{Type: typ, Status: c.statusLocked(v)}:
		default:
			c.closeWatcherLocked(w)
		}
	}
}

func (c *Cluster) closeWatcherLocked(w *watcher) {
	if _, ok := c.watchers[w]; !ok {
		return
	}
	delete(c.watchers, w)
	close(w.ch)
	if w.stop != nil {
		w.stop()
	}
}
