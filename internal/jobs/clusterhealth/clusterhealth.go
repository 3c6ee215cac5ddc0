// Package clusterhealth is the periodic River job that checks every enabled cluster:
// reachability (HEALTHY / UNHEALTHY / UNREACHABLE with the cluster's message) and its
// capabilities (Kubernetes and KubeVirt versions, GPUs, hugepages, dedicated CPU,
// SR-IOV networks, storage classes). Approval only offers HEALTHY clusters
// (catalog.EligibleClusters), so this job is what takes a failing cluster out of
// placement and puts it back. Each check is also appended to the cluster's health
// history, which the job prunes. Not audited: it records observations, not decisions.
package clusterhealth

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/clusterhealthcheck"
	"kv-shepherd.io/shepherd/internal/catalog"
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
	// HistoryKeep and HistoryMaxAge bound each cluster's health history. Defaults
	// catalog.HealthHistoryKeep (500) and catalog.HealthHistoryMaxAge (7 days).
	HistoryKeep   int
	HistoryMaxAge time.Duration
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
	rows, err := c.Store.Ent.Cluster.Query().Where(cluster.Enabled(true), cluster.DeletedAtIsNil()).
		Order(ent.Asc(cluster.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	// Clusters no longer checked (disabled, deleted) still lose their old history.
	if _, err := catalog.PruneStaleHealthHistory(ctx, c.Store.Ent, c.historyMaxAge()); err != nil {
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
	start := time.Now()
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

	if err := c.record(ctx, row, res, caps, time.Since(start)); err != nil {
		return res, err
	}
	c.logChanges(row, res, caps)
	return res, nil
}

// record stores the outcome on the cluster row and in its history, together, then
// prunes the history.
func (c *Checker) record(ctx context.Context, row *ent.Cluster, res Result, caps *kube.Capabilities, took time.Duration) error {
	now := time.Now()
	check := catalog.HealthCheck{
		ClusterID: row.ID,
		CheckedAt: now,
		Status:    clusterhealthcheck.Status(res.Status),
		Message:   res.Message,
		Took:      took,
	}
	return c.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		upd := tx.Ent.Cluster.UpdateOneID(row.ID).
			Where(cluster.DeletedAtIsNil()). // deleted while being checked: record nothing
			SetStatus(res.Status).
			SetStatusMessage(res.Message).
			SetLastCheckedAt(now)
		if caps != nil {
			catalog.ApplyCapabilities(upd.Mutation(), *caps, row.DefaultStorageClass)
			check.KubernetesVersion, check.KubeVirtVersion = caps.KubernetesVersion, caps.KubeVirtVersion
		}
		if err := upd.Exec(ctx); err != nil {
			if ent.IsNotFound(err) {
				return nil
			}
			return err
		}
		if err := catalog.RecordHealthCheck(ctx, tx.Ent, check); err != nil {
			return err
		}
		_, err := catalog.PruneHealthHistory(ctx, tx.Ent, row.ID, c.historyKeep(), c.historyMaxAge())
		return err
	})
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

func (c *Checker) historyKeep() int {
	if c.HistoryKeep <= 0 {
		return catalog.HealthHistoryKeep
	}
	return c.HistoryKeep
}

func (c *Checker) historyMaxAge() time.Duration {
	if c.HistoryMaxAge <= 0 {
		return catalog.HealthHistoryMaxAge
	}
	return c.HistoryMaxAge
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

// Timeout implements river.Worker: clusters are checked one after the other, a few
// calls each, so many unreachable clusters take longer than a cluster job's minute.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 10 * time.Minute }
