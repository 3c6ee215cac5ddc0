package live

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// The triggers NOTIFY on commit only, the listener delivers to the hub, and a broken
// LISTEN connection is re-established and followed by a refresh of every stream.
func TestListenerDeliversCommitsAndRefreshesAfterReconnect(t *testing.T) {
	pool := testdb.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := NewHub()
	connected := make(chan struct{}, 4)
	l := &Listener{Hub: h, Config: pool.Config().ConnConfig, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MinWait: 20 * time.Millisecond, Connected: func() { connected <- struct{}{} }}
	r := runner.New(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Go("listener", l.Run)
	defer r.Wait()
	defer cancel()
	waitOn(t, connected)

	alice := uuid.New()
	sub, _ := h.Subscribe(Viewer{UserID: alice}, "")
	insert := `INSERT INTO notifications (id, recipient_id, type, title, created_at) VALUES ($1, $2, 'REQUEST_APPROVED', 't', now())`

	// A rolled-back change says nothing.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, insert, uuid.New(), alice); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	if _, err := pool.Exec(ctx, insert, uuid.New(), alice); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.C():
		if m.Data != "bell" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s of the commit")
	}
	select {
	case m := <-sub.C():
		t.Fatalf("the rolled-back insert was heard too: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	// Cut the LISTEN connection from the server side.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	waitOn(t, connected)
	select {
	case <-sub.Wake():
		if !sub.Missed() {
			t.Fatal("woken without a refresh")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no refresh after the reconnect")
	}
	if _, err := pool.Exec(ctx, insert, uuid.New(), alice); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the reconnect")
	}
	cancel()
	select {
	case <-h.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the hub did not close when the listener stopped")
	}
}

func waitOn(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not connect")
	}
}
