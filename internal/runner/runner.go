// Package runner is the one place where Shepherd starts goroutines. Every background loop
// runs under it: panics are recovered and logged, errors are logged, and shutdown waits
// for all of them. `make test` refuses `go` statements anywhere else.
package runner

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// Runner supervises background tasks bound to one context.
type Runner struct {
	ctx    context.Context
	logger *slog.Logger
	wg     sync.WaitGroup
}

// New returns a Runner whose tasks see ctx and stop when it is cancelled.
func New(ctx context.Context, logger *slog.Logger) *Runner {
	return &Runner{ctx: ctx, logger: logger}
}

// Go runs fn in a supervised goroutine. A panic is turned into a logged error; it never
// takes the process down, because one broken loop must not stop the portal.
func (r *Runner) Go(name string, fn func(ctx context.Context) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.run(name, fn); err != nil && r.ctx.Err() == nil {
			r.logger.Error("background task failed", "task", name, "err", err)
		}
	}()
}

func (r *Runner) run(name string, fn func(ctx context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
			r.logger.Error("background task panicked", "task", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	return fn(r.ctx)
}

// Wait blocks until every task has returned.
func (r *Runner) Wait() { r.wg.Wait() }
