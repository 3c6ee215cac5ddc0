// Package auditretention is the daily River job that moves audit rows past their
// retention period into archives and deletes expired archives (internal/audit
// Archiver). River's leader enqueues it; each chunk commits on its own, so a run cut
// short by a crash or a deploy loses nothing and the next run continues.
package auditretention

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/internal/audit"
)

// Args carries nothing: the job archives whatever is due.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "audit_retention" }

// Worker runs the archiver.
type Worker struct {
	river.WorkerDefaults[Args]
	Archiver *audit.Archiver
	Logger   *slog.Logger
}

// Work archives what is due.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	res, err := w.Archiver.Run(ctx)
	if res.Rows > 0 || res.ExpiredArchives > 0 {
		w.Logger.Info("audit retention", "archived_rows", res.Rows, "archives", res.Archives, "expired_archives", res.ExpiredArchives)
	}
	return err
}
