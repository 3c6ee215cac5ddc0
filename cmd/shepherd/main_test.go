package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// captureStderr runs fn and returns what it wrote to stderr.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	fn()
	os.Stderr = old
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestBadConfigurationNamesTheSetting(t *testing.T) {
	t.Setenv("SHEPHERD_LOG_LEVEL", "chatty")
	var code int
	out := captureStderr(t, func() { code = run(context.Background(), []string{"serve"}) })
	if code != 2 || !strings.Contains(out, "SHEPHERD_LOG_LEVEL") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
}

func TestServeWithoutDatabaseURL(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	var code int
	out := captureStderr(t, func() { code = run(context.Background(), []string{"serve"}) })
	if code != 2 || !strings.Contains(out, "DATABASE_URL") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
}

func TestUnreachableDatabaseFailsClearly(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://shepherd:hunter2secret@127.0.0.1:1/shepherd?sslmode=disable")
	t.Setenv("SHEPHERD_LOG_LEVEL", "error")
	var code int
	out := captureStderr(t, func() { code = run(context.Background(), []string{"serve"}) })
	if code != 1 || !strings.Contains(out, "not reachable") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
	if strings.Contains(out, "hunter2secret") {
		t.Fatal("the database password reached the output")
	}
}

func TestUnknownCommand(t *testing.T) {
	var code int
	out := captureStderr(t, func() { code = run(context.Background(), []string{"frobnicate"}) })
	if code != 2 || !strings.Contains(out, "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
}

// Listening on all interfaces without SHEPHERD_BASE_URL: serve refuses before anything
// else, naming the setting, instead of registering http://0.0.0.0:8080 as redirect URI.
func TestServeOnAllInterfacesNeedsBaseURL(t *testing.T) {
	t.Setenv("SHEPHERD_ADDR", "0.0.0.0:8080")
	t.Setenv("SHEPHERD_BASE_URL", "")
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	var code int
	out := captureStderr(t, func() { code = run(context.Background(), []string{"serve"}) })
	if code != 2 || !strings.Contains(out, "SHEPHERD_BASE_URL") || !strings.Contains(out, "all interfaces") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
}
