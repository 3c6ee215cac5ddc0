// Package auditwebhook is the periodic River job that pushes the audit log to a SIEM's
// webhook (SHEPHERD_AUDIT_WEBHOOK_URL). A failed delivery fails the job, which River
// retries with backoff; the next period picks up anything still behind. Runs overlapping
// on several replicas take turns on the cursor row, so no batch goes out twice.
package auditwebhook

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/internal/audit"
)

// Args carries nothing: the job ships from the stored cursor.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "audit_webhook" }

// Worker runs the shipper.
type Worker struct {
	river.WorkerDefaults[Args]
	Shipper *audit.Shipper
	Logger  *slog.Logger
}

// Work ships what is due.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	n, err := w.Shipper.Ship(ctx)
	if n > 0 {
		w.Logger.Info("audit events sent to the webhook", "count", n)
	}
	return err
}
