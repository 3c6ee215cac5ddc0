package faults

import (
	"context"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestSIGTERMDuringAJobLosesNothing is a rolling restart: the process gets SIGTERM while
// a VM's create job runs, the next process starts on the same address; the job completes
// (in the old process's grace period, or on the new one) with one VM and at most one
// retry, and nothing stays running.
func TestSIGTERMDuringAJobLosesNothing(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.NewDSN(t)
	simDir := t.TempDir()
	addr := freeAddr(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + simDir,
		"SHEPHERD_SIM_STEP_DELAY=1s", "SHEPHERD_JOB_RETRY_BASE=100ms", "SHEPHERD_JOB_POLL_INTERVAL=100ms"}
	old := startChild(t, "old", addr, env)
	store, gov := open(t, dsn)
	org := testorg.New(t, ctx, store.Ent, "sim-rolling")
	ev, v, err := org.Approved(ctx, store.Ent, gov)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the VM to be applied", func() bool { return stepDone(ticketOf(t, store, ev), domain.StepApplied) })
	stopped := time.Now()
	old.stop(t)
	t.Logf("the old process stopped %s after SIGTERM", time.Since(stopped).Round(10*time.Millisecond))

	next := startChild(t, "next", addr, env)
	waitFor(t, 60*time.Second, "the create to finish", func() bool {
		tk := ticketOf(t, store, ev)
		return tk.Status == approvalticket.StatusFAILED ||
			(tk.Status == approvalticket.StatusSUCCESS && vmRow(t, store, v.ID).Status == vm.StatusRUNNING)
	})
	next.stop(t)
	if tk := ticketOf(t, store, ev); tk.Status != approvalticket.StatusSUCCESS {
		t.Fatalf("ticket %s (%s)", tk.Status, tk.ErrorMessage)
	}
	var state string
	var attempts int
	err = store.SQL.QueryRowContext(ctx, "SELECT state, attempt FROM river_job WHERE kind = 'vm_create' AND args->>'event_id' = $1",
		ev.String()).Scan(&state, &attempts)
	if err != nil {
		t.Fatal(err)
	}
	if state != "completed" {
		t.Fatalf("job %s after %d attempts", state, attempts)
	}
	var running int
	if err := store.SQL.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&running); err != nil || running != 0 {
		t.Fatalf("%d jobs still running (%v)", running, err)
	}
	if n := store.Ent.VM.Query().CountX(ctx); n != 1 {
		t.Fatalf("%d VM rows", n)
	}
	t.Logf("the create job completed in %d attempt(s)", attempts)
}
