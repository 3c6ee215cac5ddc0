package vmdelete

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/jobs"
)

// Executor is the use case behind the job (provisioning.Executor).
type Executor interface {
	Delete(ctx context.Context, eventID uuid.UUID, at jobs.Attempt) error
}

// Worker runs the job through the provisioning use case; it only maps outcomes onto
// River's: permanent failures cancel the job (the ticket already says why).
type Worker struct {
	river.WorkerDefaults[Args]
	Exec       Executor
	JobTimeout time.Duration
}

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	err := w.Exec.Delete(ctx, job.Args.EventID, jobs.Attempt{N: job.Attempt, Max: job.MaxAttempts})
	if jobs.IsPermanent(err) {
		return river.JobCancel(err)
	}
	return err
}

// Timeout bounds the whole job: its cluster calls and the wait for the VM.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return w.JobTimeout }
