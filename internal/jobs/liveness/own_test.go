package liveness

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"kv-shepherd.io/shepherd/internal/testdb"
)

// After a database outage River may never record the outcome of a job this (live)
// process finished: the row stays 'running' under its client. Such a job is handed back
// once OwnGrace has passed since it started and since it ended; a job the process is
// still working, or finished moments ago, is never touched.
func TestOwnJobWhoseOutcomeWasLostIsHandedBack(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pool := testdb.New(t)
	m := New(pool, ClientID(), quiet, Options{Beat: time.Hour, DeadAfter: 3 * time.Hour})
	if _, err := m.reclaimOwn(ctx); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	w := &blockWorker{release: make(chan struct{})}
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{ID: m.ID(), Logger: quiet,
		Queues:     map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers:    workers,
		Middleware: []rivertype.Middleware{m.Middleware()},
		// the rescuer must not be what hands anything back here
		RescueStuckJobsAfter: time.Hour, JobTimeout: 50 * time.Minute,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(w.release)
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = client.Stop(stopCtx)
	}()
	res, err := client.Insert(ctx, blockArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	working := res.Job.ID
	waitUntil(t, "the job to run", func() bool { return stateOf(t, pool, working).State == "running" })

	// Rows as the outage leaves them: 'running' under this client, attempted long ago.
	lost := runningJob(t, pool, 1, 10, "{}", m.ID())
	justDone := runningJob(t, pool, 1, 10, "{}", m.ID())
	elsewhere := runningJob(t, pool, 1, 10, "{}", "another-live-client")
	old := time.Now().Add(-2 * OwnGrace)
	if _, err := pool.Exec(ctx, `UPDATE river_job SET attempted_at = $1 WHERE id = ANY($2)`, old,
		[]int64{working, lost, justDone, elsewhere}); err != nil {
		t.Fatal(err)
	}
	m.own.end(justDone, time.Now()) // finished a moment ago; its completer may still write

	got, err := m.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].JobID != lost || got[0].State != "available" {
		t.Fatalf("handed back %+v, want only job %d as available", got, lost)
	}
	for id, want := range map[int64]string{working: "running", justDone: "running", elsewhere: "running"} {
		if s := stateOf(t, pool, id).State; s != want {
			t.Errorf("job %d is %s, want %s", id, s, want)
		}
	}
	if s := stateOf(t, pool, lost); s.Errors != 1 {
		t.Errorf("handed-back job records %d errors, want 1", s.Errors)
	}
	// Without the middleware nothing can be told apart, and nothing is touched.
	blind := New(pool, m.ID(), quiet, Options{Beat: time.Hour, DeadAfter: 3 * time.Hour})
	if got, err := blind.reclaimOwn(ctx); err != nil || len(got) != 0 {
		t.Errorf("a monitor without the middleware handed back %v (%v)", got, err)
	}
}
