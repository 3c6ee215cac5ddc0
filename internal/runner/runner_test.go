package runner

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestPanicIsRecoveredAndLogged(t *testing.T) {
	var buf syncBuf
	r := New(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
	r.Go("boom", func(context.Context) error { panic("kaput") })
	r.Go("fails", func(context.Context) error { return errors.New("bad thing") })
	ran := false
	r.Go("ok", func(context.Context) error { ran = true; return nil })
	r.Wait()
	out := buf.String()
	if !strings.Contains(out, "kaput") || !strings.Contains(out, "task=boom") {
		t.Fatalf("panic not logged: %s", out)
	}
	if !strings.Contains(out, "bad thing") {
		t.Fatalf("error not logged: %s", out)
	}
	if !ran {
		t.Fatal("task did not run")
	}
}

func TestCancelStopsTasks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := New(ctx, slog.New(slog.DiscardHandler))
	r.Go("loop", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	cancel()
	r.Wait()
}
