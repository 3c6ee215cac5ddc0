package jobs

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// EventArgs are the arguments of a job that executes one domain event: the id is all
// it carries; the use case reads everything else from the database.
type EventArgs interface {
	river.JobArgs
	Event() uuid.UUID
}

// EventWorker runs an event job through its use case (vm_create, vm_power, vm_delete)
// and maps the outcome onto River's: a permanent failure cancels the job, since the
// ticket already says why; "not yet" snoozes it (the next run checks the VM again);
// any other error is retried with the client's backoff.
type EventWorker[A EventArgs] struct {
	river.WorkerDefaults[A]
	Run func(ctx context.Context, eventID uuid.UUID, at Attempt) error
	// JobTimeout bounds one run of the job: its cluster calls, never a wait for the VM.
	JobTimeout time.Duration
}

// Work implements river.Worker.
func (w *EventWorker[A]) Work(ctx context.Context, job *river.Job[A]) error {
	err := w.Run(ctx, job.Args.Event(), Attempt{N: job.Attempt, Max: job.MaxAttempts})
	if IsPermanent(err) {
		return river.JobCancel(err)
	}
	if after, ok := IsNotYet(err); ok {
		return river.JobSnooze(after)
	}
	return err
}

// Timeout implements river.Worker.
func (w *EventWorker[A]) Timeout(*river.Job[A]) time.Duration { return w.JobTimeout }
