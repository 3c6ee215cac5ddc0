// Package clusters turns cluster rows into live kube.Providers and throttles the work
// each cluster receives. Real clusters ("kubevirt") get a client built from their
// sealed kubeconfig, cached until the credentials are rotated. Simulated clusters
// ("sim") live in this process, one per cluster row, with their hardware taken from
// the row the first time it is seen.
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
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/secrets"
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
	// Box opens the sealed kubeconfigs of real clusters.
	Box *secrets.Box
	// CallTimeout bounds each call to a real cluster (K8S_OPERATION_TIMEOUT).
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// Registry hands out providers by cluster id. It is safe for concurrent use.
type Registry struct {
	store *db.Store
	opts  Options

	mu    sync.Mutex
	sims  map[string]*sim.Cluster // by cluster name: names are unique and stable
	reals map[uuid.UUID]realProvider
	slots map[uuid.UUID]chan struct{}
}

// realProvider is a cached client and the sealed kubeconfig it was built from: a
// rotation stores a new sealed value (fresh nonce), which retires the client.
type realProvider struct {
	sealed   string
	provider *kubevirt.Provider
}

// New returns a registry over the clusters table.
func New(store *db.Store, opts Options) *Registry {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Registry{
		store: store,
		opts:  opts,
		sims:  map[string]*sim.Cluster{},
		reals: map[uuid.UUID]realProvider{},
		slots: map[uuid.UUID]chan struct{}{},
	}
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
	case cluster.ProviderKubevirt:
		return r.realFor(c)
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

func (r *Registry) realFor(c *ent.Cluster) (*kubevirt.Provider, error) {
	if c.KubeconfigSealed == "" {
		return nil, kube.NewPermanent(kube.CodeClusterUnhealthy, "cluster "+c.Name+" has no kubeconfig; upload one on its admin page")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp, ok := r.reals[c.ID]; ok && rp.sealed == c.KubeconfigSealed {
		return rp.provider, nil
	}
	if r.opts.Box == nil {
		return nil, kube.NewPermanent(kube.CodeClusterUnhealthy, "no encryption key is configured to open cluster credentials")
	}
	kubeconfig, err := r.opts.Box.Open(c.KubeconfigSealed)
	if err != nil {
		return nil, kube.NewPermanent(kube.CodeClusterUnhealthy,
			"the stored kubeconfig of cluster "+c.Name+" cannot be decrypted (was SHEPHERD_ENCRYPTION_KEY changed?)")
	}
	p, err := kubevirt.New(c.Name, kubeconfig, kubevirt.Options{Timeout: r.opts.CallTimeout, Logger: r.opts.Logger})
	if err != nil {
		return nil, err
	}
	r.reals[c.ID] = realProvider{sealed: c.KubeconfigSealed, provider: p}
	return p, nil
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
