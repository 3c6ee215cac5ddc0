// Package reconcile is the periodic River job that compares each healthy cluster with
// Shepherd's records (spec §7.7, "mark" mode): ghosts — live VM rows whose cluster
// object is gone — get k8s_exists=false; VMs that came back get it again; orphans —
// VMs carrying Shepherd's labels that no live row describes — are recorded in
// pending_adoptions for an admin to adopt or ignore. VMs without Shepherd's labels
// are not Shepherd's and are ignored. Status sync does the same continuously from
// watches; this pass is the slow, complete cross-check that also finds orphans.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/jobs/clusterhealth"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/statussync"
)

// Args carries nothing: one run covers every healthy cluster.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "reconcile" }

// InsertOpts: a failed run is not retried; the next period runs anyway.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// Reconciler compares clusters with the database.
type Reconciler struct {
	Store    *db.Store
	Clusters *clusters.Registry
	Logger   *slog.Logger
	// Grace protects rows created less than this ago from being called ghosts: their
	// worker may still be applying them. Default 5m.
	Grace time.Duration
	// Timeout bounds the list call per cluster. Default 1m.
	Timeout time.Duration
}

// Report is the outcome for one cluster.
type Report struct {
	Cluster   string
	Listed    int   // VMs on the cluster
	Updated   int64 // rows whose observed state changed (returned ghosts included)
	Ghosts    int   // live rows whose VM is missing
	Marked    int64 // ghosts newly marked by this pass
	Halted    bool  // circuit breaker: nothing was marked
	Orphans   int   // labelled VMs without a live row
	Adoptable int   // of those, the ones whose Service exists
	Removed   int64 // pending adoptions whose VM is no longer an orphan
}

// RunAll reconciles every enabled HEALTHY cluster in turn. A cluster that cannot be
// listed is skipped and logged (the health check owns its status); database errors
// are returned after the other clusters had their turn.
func (r *Reconciler) RunAll(ctx context.Context) ([]Report, error) {
	rows, err := r.Store.Ent.Cluster.Query().
		Where(cluster.Enabled(true), cluster.StatusEQ(cluster.StatusHEALTHY)).Order(ent.Asc(cluster.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	var reports []Report
	var errs []error
	for _, c := range rows {
		rep, err := r.Cluster(ctx, c)
		var ke *kube.Error
		switch {
		case errors.As(err, &ke):
			r.logger().Warn("reconcile: cluster could not be listed; skipped", "cluster", c.Name, "err", err)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("reconcile %s: %w", c.Name, err))
			continue
		}
		reports = append(reports, rep)
		if rep.Marked > 0 || rep.Orphans > 0 || rep.Removed > 0 {
			r.logger().Info("reconciled cluster", "cluster", c.Name, "vms", rep.Listed, "ghosts", rep.Ghosts,
				"newly_marked", rep.Marked, "orphans", rep.Orphans, "adoptable", rep.Adoptable)
		}
	}
	return reports, errors.Join(errs...)
}

// Cluster reconciles one cluster. Provider failures come back as *kube.Error.
func (r *Reconciler) Cluster(ctx context.Context, c *ent.Cluster) (Report, error) {
	rep := Report{Cluster: c.Name}
	p, err := r.Clusters.For(c)
	if err != nil {
		return rep, err
	}
	lctx, cancel := context.WithTimeout(ctx, r.timeout())
	list, err := p.ListVMs(lctx, "")
	cancel()
	if err != nil {
		return rep, kube.Classify(err)
	}
	rep.Listed = len(list)

	m, err := statussync.MarkMissing(ctx, r.Store.SQL, c.ID, c.Name, list, r.grace())
	if err != nil {
		return rep, err
	}
	rep.Ghosts, rep.Marked, rep.Halted = m.Absent, m.Marked, m.Halted
	if m.Halted {
		note := fmt.Sprintf("%s%d of %d VMs Shepherd expects on this cluster are missing from it, so none was marked. "+
			"Check that the cluster's credentials point at the right cluster.", clusterhealth.ReconcileNotePrefix, m.Absent, m.Candidates)
		r.logger().Error("reconcile halted by the circuit breaker: most VMs look deleted", "cluster", c.Name,
			"missing", m.Absent, "of", m.Candidates)
		return rep, r.Store.Ent.Cluster.UpdateOneID(c.ID).SetStatusMessage(note).Exec(ctx)
	}
	if strings.HasPrefix(c.StatusMessage, clusterhealth.ReconcileNotePrefix) {
		if _, err := r.Store.SQL.ExecContext(ctx, `UPDATE clusters SET status_message = '', updated_at = now()
WHERE id = $1 AND starts_with(status_message, $2)`, c.ID, clusterhealth.ReconcileNotePrefix); err != nil {
			return rep, err
		}
	}
	if rep.Updated, err = statussync.Apply(ctx, r.Store.SQL, c.ID, list); err != nil {
		return rep, err
	}
	err = r.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return recordOrphans(ctx, tx, c, list, &rep)
	})
	return rep, err
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

func (r *Reconciler) grace() time.Duration {
	if r.Grace <= 0 {
		return 5 * time.Minute
	}
	return r.Grace
}

func (r *Reconciler) timeout() time.Duration {
	if r.Timeout <= 0 {
		return time.Minute
	}
	return r.Timeout
}

// Worker runs the periodic reconciliation.
type Worker struct {
	river.WorkerDefaults[Args]
	Reconciler *Reconciler
}

// Timeout lifts River's one-minute default: clusters are listed one after another,
// each call bounded by Reconciler.Timeout.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 30 * time.Minute }

// Work reconciles every healthy cluster.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	_, err := w.Reconciler.RunAll(ctx)
	return err
}
