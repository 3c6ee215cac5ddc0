// Package clusterhealth is the periodic River job that checks every enabled cluster:
// reachability (HEALTHY / UNHEALTHY / UNREACHABLE with the cluster's message) and its
// capabilities (KubeVirt version, GPUs, hugepages, dedicated CPU, storage classes).
// Approval only offers HEALTHY clusters (catalog.EligibleClusters), so this job is
// what takes a failing cluster out of placement and puts it back. Not audited: it
// records observations, not decisions.
package clusterhealth

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/runner"
)

// Args carries nothing: one run checks every enabled cluster.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "cluster_health" }

// InsertOpts: a failed run is not retried; the next period checks again anyway.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// ReconcileNotePrefix starts the status message the reconciler leaves on a cluster
// whose circuit breaker tripped; a healthy check keeps such a note instead of
// clearing it, so the admin still sees why reconciliation stopped.
const ReconcileNotePrefix = "Reconciliation halted: "

// Providers finds a cluster row's provider (clusters.Registry).
type Providers interface {
	For(*ent.Cluster) (kube.Provider, error)
}

// Checker checks clusters and records the outcome on their rows.
type Checker struct {
	Store    *db.Store
	Clusters Providers
	Logger   *slog.Logger
	// Timeout bounds each cluster call. Default 10s.
	Timeout time.Duration
}

// Result is the outcome of one cluster's check.
type Result struct {
	Cluster string
	Status  cluster.Status
	Message string
}

// CheckAll checks every enabled cluster concurrently, so one unreachable cluster
// waiting out its timeout does not delay the others.
func (c *Checker) CheckAll(ctx context.Context) ([]Result, error) {
	rows, err := c.Store.Ent.Cluster.Query().Where(cluster.Enabled(true)).Order(ent.Asc(cluster.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(rows))
	var (
		mu       sync.Mutex
		firstErr error
	)
	run := runner.New(ctx, c.logger())
	for i, row := range rows {
		run.Go("cluster health "+row.Name, func(ctx context.Context) error {
			r, err := c.Check(ctx, row)
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			if err != nil && firstErr == nil {
				firstErr = err
			}
			return err
		})
	}
	run.Wait()
	return results, firstErr
}

// Check checks one cluster and updates its row. The error is only about the
// database: a failing cluster is a result, not an error.
func (c *Checker) Check(ctx context.Context, row *ent.Cluster) (Result, error) {
	res := Result{Cluster: row.Name, Status: cluster.StatusHEALTHY}
	var caps *kube.Capabilities
	p, err := c.Clusters.For(row)
	if err == nil {
		err = c.call(ctx, p.Health)
	}
	if err != nil {
		res.Status, res.Message = classify(err)
	} else {
		var got kube.Capabilities
		cerr := c.call(ctx, func(ctx context.Context) (e error) { got, e = p.Capabilities(ctx); return e })
		if cerr != nil {
			res.Message = "Capability detection failed, showing the last known capabilities: " + kube.Classify(cerr).Error()
		} else {
			caps = &got
		}
	}
	if res.Status == cluster.StatusHEALTHY && res.Message == "" && strings.HasPrefix(row.StatusMessage, ReconcileNotePrefix) {
		res.Message = row.StatusMessage
	}

	upd := c.Store.Ent.Cluster.UpdateOneID(row.ID).SetStatus(res.Status).SetStatusMessage(res.Message).SetLastCheckedAt(time.Now())
	if caps != nil {
		upd.SetKubevirtVersion(caps.KubeVirtVersion).SetGpuDevices(orEmpty(caps.GPUDevices)).SetHugepages(orEmpty(caps.Hugepages)).
			SetDedicatedCPU(caps.DedicatedCPU).SetStorageClasses(orEmpty(caps.StorageClasses)).
			SetDefaultStorageClass(defaultStorageClass(row.DefaultStorageClass, *caps))
	}
	if err := upd.Exec(ctx); err != nil {
		return res, err
	}
	c.logChanges(row, res, caps)
	return res, nil
}

func (c *Checker) call(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	return fn(ctx)
}

// classify: a transient failure (timeout, connection refused, 5xx) means the API
// server could not be reached; anything else (forbidden, a provider this build cannot
// drive) means it answered and is not usable.
func classify(err error) (cluster.Status, string) {
	ke := kube.Classify(err)
	if ke.Kind == kube.Retryable {
		return cluster.StatusUNREACHABLE, "Cluster API unreachable: " + ke.Error()
	}
	return cluster.StatusUNHEALTHY, "Health check failed: " + ke.Error()
}

// defaultStorageClass keeps the admin's choice while the cluster still offers it,
// otherwise takes the cluster's own default, or the only class there is.
func defaultStorageClass(current string, caps kube.Capabilities) string {
	switch {
	case current != "" && slices.Contains(caps.StorageClasses, current):
		return current
	case slices.Contains(caps.StorageClasses, caps.DefaultStorageClass):
		return caps.DefaultStorageClass
	case len(caps.StorageClasses) == 1:
		return caps.StorageClasses[0]
	}
	return ""
}

func (c *Checker) logChanges(row *ent.Cluster, res Result, caps *kube.Capabilities) {
	log := c.logger()
	if row.Status != res.Status {
		level := slog.LevelWarn
		if res.Status == cluster.StatusHEALTHY {
			level = slog.LevelInfo
		}
		log.Log(context.Background(), level, "cluster status changed", "cluster", row.Name,
			"from", string(row.Status), "to", string(res.Status), "message", res.Message)
	}
	if caps != nil && row.KubevirtVersion != caps.KubeVirtVersion {
		log.Info("cluster KubeVirt version changed", "cluster", row.Name, "from", row.KubevirtVersion, "to", caps.KubeVirtVersion)
	}
}

func (c *Checker) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Worker runs the periodic check.
type Worker struct {
	river.WorkerDefaults[Args]
	Checker *Checker
}

// Work checks every enabled cluster.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	_, err := w.Checker.CheckAll(ctx)
	return err
}
