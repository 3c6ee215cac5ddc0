package liveness

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"kv-shepherd.io/shepherd/internal/testdb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type blockArgs struct{}

func (blockArgs) Kind() string { return "liveness_test_block" }

type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	release chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runningJob inserts a job that River would show as running under the last client of
// attemptedBy, in a queue no client of the test serves.
func runningJob(t *testing.T, pool *pgxpool.Pool, attempt, maxAttempts int, metadata string, attemptedBy ...string) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(t.Context(), `INSERT INTO river_job (args, attempt, attempted_at, attempted_by, kind, max_attempts, queue, state, metadata)
		VALUES ('{}', $1, now(), $2, 'elsewhere', $3, 'elsewhere', 'running', $4) RETURNING id`,
		attempt, attemptedBy, maxAttempts, metadata).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func heartbeat(t *testing.T, pool *pgxpool.Pool, id, bootID, pidNS string, pid int, age time.Duration) {
	t.Helper()
	_, err := pool.Exec(t.Context(), `INSERT INTO worker_heartbeats (id, boot_id, pid_namespace, pid, started_at, beat_at)
		VALUES ($1, $2, $3, $4, now() - $5::interval, now() - $5::interval)`, id, bootID, pidNS, pid, age.String())
	if err != nil {
		t.Fatal(err)
	}
}

type jobState struct {
	State   string
	Attempt int
	Errors  int
	LastBy  string
}

func stateOf(t *testing.T, pool *pgxpool.Pool, id int64) jobState {
	t.Helper()
	var s jobState
	err := pool.QueryRow(t.Context(), `SELECT state::text, attempt, coalesce(cardinality(errors), 0), coalesce(attempted_by[cardinality(attempted_by)], '')
		FROM river_job WHERE id = $1`, id).Scan(&s.State, &s.Attempt, &s.Errors, &s.LastBy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rowExists(t *testing.T, pool *pgxpool.Pool, id string) bool {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM worker_heartbeats WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Two processes run River: one is alive and busy with a long job, the other stopped
// beating. Sweeps by a third hand back the dead one's job and never the live one's.
func TestLiveWorkersJobIsNeverHandedBack(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pool := testdb.New(t)
	// Short enough for a quick test, long enough that a loaded CI machine (race detector,
	// packages in parallel) does not make the live client's beats late.
	opts := Options{Beat: 100 * time.Millisecond, DeadAfter: 2 * time.Second}

	live := New(pool, ClientID(), quiet, opts)
	workers := river.NewWorkers()
	w := &blockWorker{release: make(chan struct{})}
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{ID: live.ID(), Logger: quiet,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}, Workers: workers,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Register(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = live.Run(ctx) }()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = client.Stop(stopCtx)
	}()
	res, err := client.Insert(ctx, blockArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	liveJob := res.Job.ID
	waitUntil(t, "the live client to run its job", func() bool { return stateOf(t, pool, liveJob).State == "running" })
	if by := stateOf(t, pool, liveJob).LastBy; by != live.ID() {
		t.Fatalf("attempted_by ends with %q, want the configured client ID %q", by, live.ID())
	}

	heartbeat(t, pool, "dead-client", "", "", 0, time.Hour)
	deadJob := runningJob(t, pool, 1, 10, "{}", "dead-client")
	// The live client ran this one after a dead one: it is the live client's now.
	takenOver := runningJob(t, pool, 2, 10, "{}", "dead-client", live.ID())
	// No heartbeat row at all (a version without heartbeats): left to River's rescuer.
	legacy := runningJob(t, pool, 1, 10, "{}", "legacy-client")

	sweeper := New(pool, ClientID(), quiet, opts)
	if err := sweeper.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, pool, deadJob).State; got != "running" {
		t.Fatalf("dead client's job is %s right after the sweeper started; stale heartbeats must wait until the sweeper has been connected for DeadAfter", got)
	}
	go func() { _ = sweeper.Run(ctx) }()
	waitUntil(t, "the dead client's job to be handed back", func() bool { return stateOf(t, pool, deadJob).State == "available" })
	// Several more sweeps while the live job runs.
	time.Sleep(10 * opts.Beat)

	if s := stateOf(t, pool, deadJob); s.Attempt != 1 || s.Errors != 1 {
		t.Errorf("handed-back job: %+v, want attempt 1 and one error recorded", s)
	}
	if rowExists(t, pool, "dead-client") {
		t.Error("the dead client's heartbeat row is still there")
	}
	for name, id := range map[string]int64{"live": liveJob, "taken over": takenOver, "legacy": legacy} {
		if s := stateOf(t, pool, id); s.State != "running" || s.Errors != 0 {
			t.Errorf("%s job: %+v, want still running", name, s)
		}
	}
	if !rowExists(t, pool, live.ID()) || !rowExists(t, pool, sweeper.ID()) {
		t.Error("a live client's heartbeat row was removed")
	}
	close(w.release)
	waitUntil(t, "the live job to complete", func() bool { return stateOf(t, pool, liveJob).State == "completed" })
	if s := stateOf(t, pool, liveJob); s.Attempt != 1 {
		t.Errorf("live job completed after %d attempts, want 1", s.Attempt)
	}

	// A graceful shutdown retires the row and hands back what did not finish.
	leftover := runningJob(t, pool, 1, 10, "{}", sweeper.ID())
	cancel()
	if err := sweeper.Retire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, pool, leftover); s.State != "available" || rowExists(t, pool, sweeper.ID()) {
		t.Errorf("after Retire: job %+v, row kept %v", s, rowExists(t, pool, sweeper.ID()))
	}
}

// A process on the same kernel and pid namespace whose pid is gone was a previous
// instance: its jobs are handed back at the new process's start, without waiting for
// its heartbeat to go stale. A neighbour whose pid exists keeps its jobs.
func TestGoneProcessOnThisMachineIsTakenOverAtStart(t *testing.T) {
	pool := testdb.New(t)
	self := thisProcess()
	if self.bootID == "" || self.pidNS == "" {
		t.Skip("no /proc boot id or pid namespace here")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gonePid := cmd.Process.Pid

	heartbeat(t, pool, "previous", self.bootID, self.pidNS, gonePid, 0)
	heartbeat(t, pool, "neighbour", self.bootID, self.pidNS, os.Getppid(), 0)
	heartbeat(t, pool, "other-machine", "another-boot", self.pidNS, gonePid, 0)
	available := runningJob(t, pool, 1, 10, "{}", "previous")
	lastAttempt := runningJob(t, pool, 10, 10, "{}", "previous")
	cancelling := runningJob(t, pool, 1, 10, `{"cancel_attempted_at": "2026-01-01T00:00:00Z"}`, "previous")
	neighbours := runningJob(t, pool, 1, 10, "{}", "neighbour")
	remote := runningJob(t, pool, 1, 10, "{}", "other-machine")

	m := New(pool, ClientID(), quiet, Options{Beat: time.Hour, DeadAfter: 3 * time.Hour})
	if err := m.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Retire(context.Background()) }()
	for id, want := range map[int64]string{available: "available", lastAttempt: "discarded", cancelling: "cancelled",
		neighbours: "running", remote: "running"} {
		if got := stateOf(t, pool, id).State; got != want {
			t.Errorf("job %d: %s, want %s", id, got, want)
		}
	}
	if rowExists(t, pool, "previous") || !rowExists(t, pool, "neighbour") || !rowExists(t, pool, "other-machine") {
		t.Error("wrong heartbeat rows removed")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
