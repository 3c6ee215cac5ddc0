package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// EnvTestDatabaseURL is the variable through which Exec hands the server to
// the command it runs (see internal/testdb).
const EnvTestDatabaseURL = "SHEPHERD_TEST_DATABASE_URL"

// childGrace is how long Exec waits for the command to exit after
// forwarding a signal before it kills it.
const childGrace = 30 * time.Second

// Exec starts (or reuses) the private server, ensures database `postgres` is reachable, sets
// SHEPHERD_TEST_DATABASE_URL=<DSN("postgres")> in the child's environment, runs argv with stdio passed through,
// stops the server afterwards if it started it (also on SIGINT/SIGTERM: forward the signal to the child, wait, then stop),
// and returns the child's exit code.
//
// A child killed by a signal yields 128+signal, like a shell reports it.
func Exec(ctx context.Context, opts Options, argv []string) (code int, err error) {
	if len(argv) == 0 {
		return 2, errors.New("pgembed: no command to run")
	}
	// Catch the signals for the whole call, so that an interrupt during
	// startup or shutdown cannot kill us and leave the server behind.
	// One context per signal tells the cancel hook which one to forward.
	intCtx, stopInt := signal.NotifyContext(ctx, os.Interrupt)
	defer stopInt()
	sigCtx, stopTerm := signal.NotifyContext(intCtx, syscall.SIGTERM)
	defer stopTerm()

	inst, err := Start(sigCtx, opts)
	if err != nil {
		return 1, err
	}
	defer func() {
		// The signal contexts may be done by now; stopping must still work.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
		defer cancel()
		if stopErr := inst.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	if err := inst.EnsureDatabase(sigCtx, "postgres"); err != nil {
		return 1, err
	}
	if err := sigCtx.Err(); err != nil {
		return 1, fmt.Errorf("pgembed: %w", context.Cause(sigCtx))
	}

	cmd := exec.CommandContext(sigCtx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), EnvTestDatabaseURL+"="+inst.DSN("postgres"))
	// Called by Wait when sigCtx is done: forward the signal we received;
	// SIGTERM when the caller's ctx was cancelled instead.
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		if intCtx.Err() != nil && ctx.Err() == nil {
			sig = syscall.SIGINT
		}
		return cmd.Process.Signal(sig)
	}
	cmd.WaitDelay = childGrace

	if err := cmd.Start(); err != nil {
		return 127, fmt.Errorf("pgembed: %w", err)
	}
	// Wait reports a cancelled context when the child exits successfully
	// after a forwarded signal; the exit status is what counts.
	err = cmd.Wait()
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return st.ExitCode(), nil
	}
	return 1, fmt.Errorf("pgembed: %w", err)
}
