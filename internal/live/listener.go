package live

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listener holds this process's one LISTEN connection (outside the pool: a pooled
// connection would be handed to others) and feeds the hub. When the connection breaks it
// reconnects with backoff, and then tells every stream to refresh, since changes
// committed meanwhile were not heard.
type Listener struct {
	Hub     *Hub
	Config  *pgx.ConnConfig // a copy of the pool's; dialled afresh on every reconnect
	Logger  *slog.Logger
	MinWait time.Duration // first reconnect delay; 0 means 250ms
	MaxWait time.Duration // cap of the doubling delay; 0 means 10s
	// Connected, if set, is called each time LISTEN is in place (tests wait on it).
	Connected func()
}

// Run listens until ctx ends, then closes the hub so open streams finish.
func (l *Listener) Run(ctx context.Context) error {
	defer l.Hub.Close()
	minWait, maxWait := l.MinWait, l.MaxWait
	if minWait <= 0 {
		minWait = 250 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	wait := minWait
	first := true
	for ctx.Err() == nil {
		heard, err := l.session(ctx, !first)
		if ctx.Err() != nil {
			return nil
		}
		first = false
		if heard {
			wait = minWait // it worked for a while: retry quickly
		}
		l.Logger.Warn("live updates: listener connection lost; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, maxWait)
	}
	return nil
}

// session connects, listens and forwards notifications until the connection fails.
// heard reports whether LISTEN was established.
func (l *Listener) session(ctx context.Context, reconnect bool) (heard bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.Config.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, err
	}
	if reconnect {
		l.Logger.Info("live updates: listening again; open pages refresh")
		l.Hub.RefreshAll()
	}
	if l.Connected != nil {
		l.Connected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		c, err := ParseChange(n.Payload)
		if err != nil {
			l.Logger.Warn("live updates: ignored a notification", "err", err)
			continue
		}
		l.Hub.Publish(c)
	}
}
