package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/pgembed"
)

// When the private PostgreSQL dies under `make run`, the log says so once, plainly,
// with how to recover; and says when it is back.
func TestWatchdogSaysWhenPostgresDies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	opts := pgembed.Options{Dir: filepath.Join(t.TempDir(), "pg"), Port: port, Fast: true}
	pg, err := pgembed.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	logs := &apptest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchPostgres(ctx, pg, log, 100*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
		_ = pg.Stop(context.Background())
	}()

	time.Sleep(300 * time.Millisecond)
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("complaints while PostgreSQL runs:\n%s", logs)
	}
	if err := pg.Stop(t.Context()); err != nil { // as if it died
		t.Fatal(err)
	}
	wait(t, logs, "how to recover", func(s string) bool {
		return strings.Contains(s, "to recover: stop Shepherd (Ctrl-C) and run `make run` again")
	})
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(logs.String(), "the private PostgreSQL has stopped"); n != 1 {
		t.Errorf("said %d times that PostgreSQL stopped, want once", n)
	}
	if pg, err = pgembed.Start(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	wait(t, logs, "the all-clear", func(s string) bool { return strings.Contains(s, "running again") })
}

func wait(t *testing.T, logs *apptest.LogBuffer, what string, ok func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok(logs.String()) {
			return
		}
	}
	t.Fatalf("no %s in the log:\n%s", what, logs)
}
