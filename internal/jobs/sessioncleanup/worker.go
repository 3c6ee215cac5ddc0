// Package sessioncleanup is the periodic River job that deletes ended browser sessions.
package sessioncleanup

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"
)

// Args carries nothing: the job works on all sessions.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "session_cleanup" }

// Deleter is the part of the session store the job needs.
type Deleter interface {
	DeleteExpired(ctx context.Context) (int, error)
}

// Consoles is the part of console access the job tidies: used-up console tickets and
// records of console sessions whose process died before closing them.
type Consoles interface {
	PruneTickets(ctx context.Context) (int, error)
	CloseStale(ctx context.Context) (int, error)
}

// Worker deletes sessions past their idle or absolute lifetime, and revoked ones, and
// tidies console tickets and session records.
type Worker struct {
	river.WorkerDefaults[Args]
	Sessions Deleter
	Consoles Consoles // nil: none
	Logger   *slog.Logger
}

// Work runs one cleanup pass.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	n, err := w.Sessions.DeleteExpired(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.Logger.Info("deleted ended sessions", "count", n)
	}
	if w.Consoles == nil {
		return nil
	}
	if n, err = w.Consoles.PruneTickets(ctx); err != nil {
		return err
	}
	if n > 0 {
		w.Logger.Info("deleted used-up console tickets", "count", n)
	}
	if n, err = w.Consoles.CloseStale(ctx); err != nil {
		return err
	}
	if n > 0 {
		w.Logger.Warn("closed console session records their process left open", "count", n)
	}
	return nil
}
