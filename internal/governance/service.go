// Package governance holds the request and approval use cases: submitting a VM request,
// approving (which creates the VM row and enqueues its job in the same transaction),
// rejecting and cancelling, and the queries behind the inbox and "My requests".
package governance

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"kv-shepherd.io/shepherd/internal/db"
)

// JobInserter inserts River jobs inside the caller's *sql.Tx (River's database/sql driver),
// so the job becomes visible exactly when the approval commits.
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service runs the governance use cases.
type Service struct {
	Store  *db.Store
	Jobs   JobInserter
	Logger *slog.Logger
	Now    func() time.Time
	// afterJobInsert is a test hook: a failure injected here must roll everything back.
	afterJobInsert func() error
	// afterPlan is a test hook between an approval's plan and its transaction: the
	// moment another admin could delete the chosen cluster.
	afterPlan func()
	// beforeBatchChild is a test hook before child i of a batch is written: a failure
	// injected here must leave no trace of the batch.
	beforeBatchChild func(i int) error
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
