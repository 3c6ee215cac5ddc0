package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

type testArgs struct{ ID uuid.UUID }

func (testArgs) Kind() string       { return "test_event" }
func (a testArgs) Event() uuid.UUID { return a.ID }

func TestEventWorkerMapsOutcomes(t *testing.T) {
	id := uuid.New()
	transient := errors.New("cluster timeout")
	var got struct {
		id uuid.UUID
		at Attempt
	}
	var result error
	w := &EventWorker[testArgs]{JobTimeout: time.Minute, Run: func(_ context.Context, ev uuid.UUID, at Attempt) error {
		got.id, got.at = ev, at
		return result
	}}
	job := &river.Job[testArgs]{JobRow: &rivertype.JobRow{Attempt: 3, MaxAttempts: 10}, Args: testArgs{ID: id}}

	result = transient
	if err := w.Work(context.Background(), job); !errors.Is(err, transient) {
		t.Fatalf("a retryable error must reach River as is, got %v", err)
	}
	if got.id != id || got.at != (Attempt{N: 3, Max: 10}) {
		t.Fatalf("use case got %v %+v", got.id, got.at)
	}
	result = &PermanentError{Err: transient}
	var cancel *river.JobCancelError
	if err := w.Work(context.Background(), job); !errors.As(err, &cancel) {
		t.Fatalf("a permanent failure must cancel the job, got %v", err)
	}
	result = NotYet(2 * time.Second)
	var snooze *river.JobSnoozeError
	if err := w.Work(context.Background(), job); !errors.As(err, &snooze) || snooze.Duration != 2*time.Second {
		t.Fatalf("a VM that has not settled must snooze the job, got %v", err)
	}
	result = nil
	if err := w.Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if w.Timeout(job) != time.Minute {
		t.Fatal("timeout")
	}
}
