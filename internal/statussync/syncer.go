// Package statussync keeps the VM rows in the database true to what the clusters
// report (spec §8.4): one List-Watch loop per enabled cluster writes observed status,
// IP, node and k8s_exists, and marks VMs whose cluster object disappeared. Sync is
// not audited. Rows in CREATING, DELETING and DELETED belong to the workers and are
// never written here.
package statussync

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/runner"
)

// Options tune the loops; zero values take the defaults shown.
type Options struct {
	// Refresh is how often the set of enabled clusters is re-read, so added and
	// disabled clusters start and stop their watchers. Default 30s.
	Refresh time.Duration
	// Grace protects rows created less than this ago from being judged missing by a
	// re-list: the worker may not have applied them yet. Default 1m.
	Grace time.Duration
	// MinBackoff and MaxBackoff bound the wait before re-listing after a failure or a
	// closed watch. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// HealthyAfter: a session that lasted this long resets the backoff. Default 1m.
	HealthyAfter time.Duration
	// Resync closes a quiet watch and re-lists, catching anything a watch lost.
	// Default 10m.
	Resync time.Duration
	// Heartbeat is how often an open watch refreshes LastHeartbeat. Default 15s.
	Heartbeat time.Duration
	// CallTimeout bounds each cluster call (list, watch set-up). Default 1m.
	CallTimeout time.Duration
	// LogEvery rate-limits repeated failure logs of one cluster. Default 5m.
	LogEvery time.Duration
	// Leases, when set, share the clusters among the processes of one database: this
	// process watches only the clusters whose lease it holds. Nil watches every enabled
	// cluster (one process).
	Leases *Leases
	// Renew is how often leases are renewed (and the cluster set re-read) when Leases is
	// set. Default and maximum: a quarter of the leases' TTL.
	Renew time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Refresh, 30*time.Second)
	def(&o.Grace, time.Minute)
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.HealthyAfter, time.Minute)
	def(&o.Resync, 10*time.Minute)
	def(&o.Heartbeat, 15*time.Second)
	def(&o.CallTimeout, time.Minute)
	def(&o.LogEvery, 5*time.Minute)
	if o.Leases != nil && (o.Renew <= 0 || o.Renew > o.Leases.TTL/4) {
		o.Renew = o.Leases.TTL / 4
	}
}

// State is what one watcher reports about its cluster.
type State struct {
	ClusterID     uuid.UUID
	Name          string
	Healthy       bool      // listed successfully and watching now
	LastHeartbeat time.Time // last successful list, event or heartbeat tick
	LastError     string    // the most recent failure, "" once healthy again
}

// Syncer runs the per-cluster watchers.
type Syncer struct {
	store  *db.Store
	reg    *clusters.Registry
	logger *slog.Logger
	opts   Options

	mu       sync.Mutex
	watchers map[uuid.UUID]*watcher
	// leaseUntil is when the leases last renewed run out for this process (local time).
	leaseUntil time.Time
}

// New returns a Syncer; nothing runs until Run.
func New(store *db.Store, reg *clusters.Registry, logger *slog.Logger, opts Options) *Syncer {
	opts.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Syncer{store: store, reg: reg, logger: logger.With("component", "statussync"), opts: opts,
		watchers: map[uuid.UUID]*watcher{}}
}

// Run starts a watcher per enabled cluster and keeps the set current until ctx ends,
// then waits for the watchers to stop. It returns nil on shutdown: failures of the
// database or a cluster are logged and retried, never fatal.
func (s *Syncer) Run(ctx context.Context) error {
	if s.opts.Leases != nil {
		// Runs after the watchers stopped (deferred calls run last-in first-out): the
		// other processes take the clusters at their next renewal.
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.opts.Leases.Release(rctx); err != nil {
				s.logger.Warn("status sync: releasing the cluster watch leases failed; they expire by themselves", "err", err)
			}
		}()
	}
	run := runner.New(ctx, s.logger)
	defer run.Wait()
	every := s.opts.Refresh
	if s.opts.Leases != nil {
		every = s.opts.Renew
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.refresh(ctx, run)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// refresh starts watchers for newly enabled clusters and stops those of clusters
// that were disabled or removed. A failed read keeps the current set.
func (s *Syncer) refresh(ctx context.Context, run *runner.Runner) {
	rows, err := s.store.Ent.Cluster.Query().Where(cluster.Enabled(true)).All(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if s.opts.Leases == nil || time.Now().Before(s.leaseUntil) {
			s.logger.Warn("status sync: reading clusters failed; keeping the current watchers", "err", err)
			return
		}
		// Leases that cannot be renewed must not outlive their half-time here.
		s.logger.Warn("status sync: the cluster watch leases ran out; stopping the watchers until they can be renewed", "err", err)
		rows = nil
	}
	want := map[uuid.UUID]*ent.Cluster{}
	for _, c := range rows {
		want[c.ID] = c
	}
	if err == nil && s.opts.Leases != nil && !s.claim(ctx, want) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, w := range s.watchers {
		c, ok := want[id]
		switch {
		case !ok:
			s.logger.Info("status sync stopped", "cluster", w.name)
		case connection(c) != connection(w.cluster):
			s.logger.Info("status sync restarts: the cluster's connection settings changed", "cluster", w.name)
		default:
			continue
		}
		w.cancel()
		delete(s.watchers, id)
	}
	for id, c := range want {
		if _, ok := s.watchers[id]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &watcher{s: s, cluster: c, name: c.Name, cancel: cancel}
		s.watchers[id] = w
		run.Go("statussync "+c.Name, func(context.Context) error { w.run(wctx); return nil })
	}
}

// claim keeps in want only the clusters whose lease this process holds. When the leases
// could not be renewed it keeps the current watchers (false) while the last renewal
// lasts, and stops them all once it ran out — another process may take over then.
func (s *Syncer) claim(ctx context.Context, want map[uuid.UUID]*ent.Cluster) bool {
	ids := make([]uuid.UUID, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Renew)
	defer cancel()
	held, until, err := s.opts.Leases.Claim(cctx, ids)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		if time.Now().Before(s.leaseUntil) {
			s.logger.Warn("status sync: renewing the cluster watch leases failed; keeping the watchers while the leases last", "err", err)
			return false
		}
		s.logger.Warn("status sync: the cluster watch leases ran out; stopping the watchers until they can be renewed", "err", err)
		clear(want)
		return true
	}
	s.leaseUntil = until
	for id, c := range want {
		if !held[id] {
			delete(want, id)
			if s.watching(id) {
				s.logger.Info("status sync: another process watches this cluster now", "cluster", c.Name)
			}
		}
	}
	return true
}

// watching reports whether this process runs a watcher for the cluster.
func (s *Syncer) watching(id uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.watchers[id]
	return ok
}

// connection is what the provider is built from; a change needs a new watcher. Other
// columns (status, last check) change every minute and must not restart it.
func connection(c *ent.Cluster) [3]string {
	return [3]string{string(c.Provider), c.APIServerURL, c.KubeconfigSealed}
}

// States reports every running watcher, by cluster name.
func (s *Syncer) States() []State {
	s.mu.Lock()
	ws := make([]*watcher, 0, len(s.watchers))
	for _, w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	out := make([]State, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.state())
	}
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// State reports the watcher of one cluster; false when none runs for it.
func (s *Syncer) State(clusterID uuid.UUID) (State, bool) {
	s.mu.Lock()
	w, ok := s.watchers[clusterID]
	s.mu.Unlock()
	if !ok {
		return State{}, false
	}
	return w.state(), true
}

// Healthy reports whether the cluster's watcher is listed and watching.
func (s *Syncer) Healthy(clusterID uuid.UUID) bool {
	st, ok := s.State(clusterID)
	return ok && st.Healthy
}

// LastHeartbeat is the last sign of life of the cluster's watcher (zero if none).
func (s *Syncer) LastHeartbeat(clusterID uuid.UUID) time.Time {
	st, _ := s.State(clusterID)
	return st.LastHeartbeat
}
