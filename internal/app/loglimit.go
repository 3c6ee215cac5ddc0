package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// limitHandler passes client-go's log records on, but the same warning or error (message
// and error text) at most once per interval: an unreachable cluster makes its informers
// retry every few seconds, and each retry would otherwise be an ERROR line. The next line
// let through says how many were held back.
type limitHandler struct {
	next  slog.Handler
	every time.Duration
	now   func() time.Time
	state *limitState
}

type limitState struct {
	mu   sync.Mutex
	seen map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newLimitHandler(next slog.Handler, every time.Duration) *limitHandler {
	return &limitHandler{next: next, every: every, now: time.Now, state: &limitState{seen: map[string]*limitEntry{}}}
}

func (h *limitHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *limitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			key += "\x00" + a.Value.String()
		}
		return true
	})
	now := h.now()
	h.state.mu.Lock()
	e := h.state.seen[key]
	if e != nil && now.Sub(e.last) < h.every {
		e.suppressed++
		h.state.mu.Unlock()
		return nil
	}
	if e == nil {
		if len(h.state.seen) > 1000 { // bounded: forget old keys rather than grow
			clear(h.state.seen)
		}
		e = &limitEntry{}
		h.state.seen[key] = e
	}
	suppressed := e.suppressed
	e.suppressed, e.last = 0, now
	h.state.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", suppressed), slog.Duration("within", h.every))
	}
	return h.next.Handle(ctx, r)
}

func (h *limitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &limitHandler{next: h.next.WithAttrs(attrs), every: h.every, now: h.now, state: h.state}
}

func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{next: h.next.WithGroup(name), every: h.every, now: h.now, state: h.state}
}
