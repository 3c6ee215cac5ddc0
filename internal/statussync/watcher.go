package statussync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/kube"
)

// watcher is the List-Watch loop of one cluster.
type watcher struct {
	s       *Syncer
	cluster *ent.Cluster
	name    string
	cancel  context.CancelFunc

	mu        sync.Mutex
	healthy   bool
	heartbeat time.Time
	lastErr   string

	// Only the loop's goroutine touches these.
	failures int
	lastLog  time.Time
}

// run alternates sessions (list, then watch until the watch ends) with a backoff
// that doubles up to MaxBackoff and starts over after a healthy session.
func (w *watcher) run(ctx context.Context) {
	o := w.s.opts
	backoff := o.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := w.session(ctx)
		w.setHealthy(false, err)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.failed(err)
		}
		if time.Since(start) >= o.HealthyAfter {
			backoff = o.MinBackoff
		}
		// Jitter spreads the re-lists of many replicas after an API server restart.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, o.MaxBackoff)
	}
}

// session lists the cluster, applies the list, then applies watch events until the
// watch closes, the cluster stops answering, or it is time for a full re-list. The
// watch opens before the list so no change between the two is lost: events that
// raced the list are applied after it and end at the same state.
func (w *watcher) session(ctx context.Context) error {
	o := w.s.opts
	p, err := w.s.reg.For(w.cluster)
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events, err := p.Watch(wctx)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	callCtx, cancel := context.WithTimeout(ctx, o.CallTimeout)
	list, err := p.ListVMs(callCtx, "")
	cancel()
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	changed, err := Apply(ctx, w.s.store.SQL, w.cluster.ID, list)
	if err != nil {
		return err
	}
	m, err := MarkMissing(ctx, w.s.store.SQL, w.cluster.ID, w.name, list, o.Grace)
	if err != nil {
		return err
	}
	if m.Marked > 0 {
		w.s.logger.Warn("VMs deleted on the cluster outside Shepherd", "cluster", w.name, "count", m.Marked)
	}
	if m.Halted {
		w.s.logger.Error("status sync: most VMs of the cluster look deleted; marking none (circuit breaker)",
			"cluster", w.name, "missing", m.Absent, "of", m.Candidates)
	}
	w.s.logger.Debug("status sync listed", "cluster", w.name, "vms", len(list), "changed", changed, "marked_missing", m.Marked)
	w.recovered()
	w.setHealthy(true, nil)

	resync := time.NewTimer(o.Resync)
	defer resync.Stop()
	beat := time.NewTicker(o.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
			return nil
		case <-beat.C:
			// An open watch on a dead API server can stay silent; ask the cluster.
			hctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
			err := p.Health(hctx)
			cancel()
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			w.setHealthy(true, nil)
		case ev, ok := <-events:
			if !ok {
				return nil // dropped by the server: re-list
			}
			if err := w.applyEvents(ctx, drain(ev, events)); err != nil {
				return err
			}
			w.setHealthy(true, nil)
		}
	}
}

// drain collects ev and whatever else is already buffered, so a burst of events
// costs one statement instead of one per event.
func drain(ev kube.Event, events <-chan kube.Event) []kube.Event {
	out := []kube.Event{ev}
	for len(out) < batchSize {
		select {
		case e, ok := <-events:
			if !ok {
				return out // the closed channel is seen again by the caller
			}
			out = append(out, e)
		default:
			return out
		}
	}
	return out
}

// applyEvents writes the last event of each VM: earlier ones are superseded.
func (w *watcher) applyEvents(ctx context.Context, evs []kube.Event) error {
	last := map[kube.VMRef]kube.Event{}
	var order []kube.VMRef
	for _, e := range evs {
		if _, seen := last[e.Status.Ref]; !seen {
			order = append(order, e.Status.Ref)
		}
		last[e.Status.Ref] = e
	}
	var present []kube.VMStatus
	for _, ref := range order {
		e := last[ref]
		if e.Type == kube.EventDeleted || !e.Status.Exists {
			marked, err := MarkGone(ctx, w.s.store.SQL, w.cluster.ID, w.name, ref, e.Status.UID)
			if err != nil {
				return err
			}
			if marked {
				w.s.logger.Warn("VM deleted on the cluster outside Shepherd", "cluster", w.name, "vm", ref.String())
			}
			continue
		}
		present = append(present, e.Status)
	}
	_, err := Apply(ctx, w.s.store.SQL, w.cluster.ID, present)
	return err
}

func (w *watcher) setHealthy(ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.healthy = ok
	if ok {
		w.heartbeat, w.lastErr = time.Now(), ""
	} else if err != nil {
		w.lastErr = err.Error()
	}
}

func (w *watcher) state() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return State{ClusterID: w.cluster.ID, Name: w.name, Healthy: w.healthy, LastHeartbeat: w.heartbeat, LastError: w.lastErr}
}

// failed logs the first failure of a streak and then at most once per LogEvery: an
// unreachable cluster retried every 30 s must not flood the log.
func (w *watcher) failed(err error) {
	w.failures++
	now := time.Now()
	if w.failures == 1 || now.Sub(w.lastLog) >= w.s.opts.LogEvery {
		w.lastLog = now
		w.s.logger.Warn("status sync: cluster unavailable, retrying", "cluster", w.name, "err", err,
			"kind", kube.Classify(err).Kind.String(), "failures", w.failures)
	}
}

func (w *watcher) recovered() {
	if w.failures > 0 {
		w.s.logger.Info("status sync resumed", "cluster", w.name, "after_failures", w.failures)
	}
	w.failures = 0
}
