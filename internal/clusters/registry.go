// Package clusters turns cluster rows into live kube.Providers and throttles the work
// each cluster receives. Simulated clusters ("sim") live in this process, one per
// cluster row, with their hardware taken from the row the first time it is seen.
package clusters

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

// Options configure the registry.
type Options struct {
	// Concurrency is the per-cluster limit on concurrent cluster operations
	// (K8S_CLUSTER_CONCURRENCY, spec §8.6). Default 20.
	Concurrency int
	// SimStepDelay is how long a simulated VM stays in each intermediate phase.
	SimStepDelay time.Duration
	// SimStateDir keeps simulated clusters on disk (one JSON file per cluster) so
	// they survive restarts; empty keeps them in memory.
	SimStateDir string
	Logger      *slog.Logger
}

// Registry hands out providers by cluster id. It is safe for concurrent use.
type Registry struct {
	store *db.Store
	opts  Options

	mu    sync.Mutex
	sims  map[string]*sim.Cluster // by cluster name: names are unique and stable
	slots map[uuid.UUID]chan struct{}
}

// New returns a registry over the clusters table.
func New(store *db.Store, opts Options) *Registry {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Registry{store: store, opts: opts, sims: map[string]*sim.Cluster{}, slots: map[uuid.UUID]chan struct{}{}}
}

// Provider returns the provider of cluster id, loading its row.
func (r *Registry) Provider(ctx context.Context, id uuid.UUID) (kube.Provider, *ent.Cluster, error) {
	c, err := r.store.Ent.Cluster.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := r.For(c)
	return p, c, err
}

// For returns the provider of a loaded cluster row.
func (r *Registry) For(c *ent.Cluster) (kube.Provider, error) {
	switch c.Provider {
	case cluster.ProviderSim:
		return r.simFor(c)
	default:
		return nil, kube.NewPermanent(kube.CodeClusterUnhealthy,
			fmt.Sprintf("cluster %s uses the %q provider, which this build of Shepherd cannot reach yet", c.Name, c.Provider))
	}
}

// Sim returns the simulated cluster behind a cluster name, creating it from its row
// if needed; tests use it to inject faults. Nil when no such sim cluster exists.
func (r *Registry) Sim(ctx context.Context, name string) *sim.Cluster {
	c, err := r.store.Ent.Cluster.Query().Where(cluster.Name(name), cluster.ProviderEQ(cluster.ProviderSim)).Only(ctx)
	if err != nil {
		return nil
	}
	s, err := r.simFor(c)
	if err != nil {
		return nil
	}
	return s
}

func (r *Registry) simFor(c *ent.Cluster) (*sim.Cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// For a simulated cluster the record is the hardware: an admin's edit of its
	// capabilities is what the next health check detects.
	caps := kube.Capabilities{
		KubeVirtVersion: c.KubevirtVersion, GPUDevices: c.GpuDevices, Hugepages: c.Hugepages,
		StorageClasses: c.StorageClasses, DefaultStorageClass: c.DefaultStorageClass, DedicatedCPU: c.DedicatedCPU,
	}
	if s, ok := r.sims[c.Name]; ok {
		s.SetCapabilities(caps)
		return s, nil
	}
	opts := sim.Options{StepDelay: r.opts.SimStepDelay, Capabilities: caps}
	if r.opts.SimStateDir != "" {
		if err := os.MkdirAll(r.opts.SimStateDir, 0o700); err != nil {
			return nil, fmt.Errorf("simulated cluster state: %w", err)
		}
		opts.StateFile = filepath.Join(r.opts.SimStateDir, c.Name+".json")
		s, err := sim.Open(opts)
		if err != nil {
			return nil, kube.NewPermanent(kube.CodeClusterUnhealthy, fmt.Sprintf("simulated cluster %s: %v", c.Name, err))
		}
		r.sims[c.Name] = s
		return s, nil
	}
	s := sim.New(opts)
	r.sims[c.Name] = s
	return s, nil
}

// Acquire takes one of the cluster's operation slots, waiting while all are busy. The
// release func must be called (defer it) once the cluster calls are done.
func (r *Registry) Acquire(ctx context.Context, id uuid.UUID) (release func(), err error) {
	r.mu.Lock()
	slot, ok := r.slots[id]
	if !ok {
		slot = make(chan struct{}, r.opts.Concurrency)
		r.slots[id] = slot
	}
	r.mu.Unlock()
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, kube.Classify(ctx.Err())
	}
}

// InUse reports how many slots of cluster id are taken (for metrics and tests).
func (r *Registry) InUse(id uuid.UUID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.slots[id])
}

// Close stops simulated clusters' timers and watches.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sims {
		s.Close()
	}
}
