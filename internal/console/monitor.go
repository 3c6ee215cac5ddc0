package console

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/internal/db"
)

// Monitor ends this process's live sessions when someone revokes them, wherever the
// revocation happened: a revoker only writes revoked_at on the session row (any
// replica may serve the admin's request), and every process polls for its own live
// sessions being revoked. One indexed query per Interval per process, whatever the
// number of sessions, and none while no session is open.
type Monitor struct {
	Store *db.Store
	// Interval between checks; default 500 ms, so a revocation closes the socket
	// within a second.
	Interval time.Duration
	Logger   *slog.Logger

	mu   sync.Mutex
	live map[uuid.UUID]context.CancelCauseFunc
}

// Watch registers a live session: cancel is called with the close reason when the
// session is revoked. The returned func unregisters it.
func (m *Monitor) Watch(id uuid.UUID, cancel context.CancelCauseFunc) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live == nil {
		m.live = map[uuid.UUID]context.CancelCauseFunc{}
	}
	m.live[id] = cancel
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.live, id)
	}
}

// Live is the number of sessions this process holds.
func (m *Monitor) Live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}

// Run checks until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	interval := m.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.check(ctx); err != nil && ctx.Err() == nil {
			m.logger().Warn("console revocation check failed", "err", err)
		}
	}
}

func (m *Monitor) check(ctx context.Context) error {
	m.mu.Lock()
	ids := make([]uuid.UUID, 0, len(m.live))
	for id := range m.live {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	rows, err := m.Store.Ent.ConsoleSession.Query().
		Where(consolesession.IDIn(ids...), consolesession.RevokedAtNotNil()).
		Select(consolesession.FieldID, consolesession.FieldRevokeReason).All(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		if cancel, ok := m.live[r.ID]; ok {
			cancel(reasonForRevoke(r.RevokeReason))
			delete(m.live, r.ID)
		}
	}
	return nil
}

func (m *Monitor) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}
