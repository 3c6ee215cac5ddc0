package app

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/web"
)

// wireConsole builds the console's hub and upgrader, and closes the records of
// sessions this process held when it last stopped without closing them (a crash).
func (a *App) wireConsole(ctx context.Context, deps *web.Deps) error {
	upgrader, err := console.NewUpgrader(a.Config.BaseURL)
	if err != nil {
		return fmt.Errorf("console: SHEPHERD_BASE_URL: %w", err)
	}
	logger := a.Logger.With("component", "console")
	a.ConsoleHub = &console.Hub{
		Access:   a.ConsoleAccess,
		Clusters: a.Clusters,
		Monitor:  &console.Monitor{Store: a.Store, Logger: logger},
		Pipe:     console.PipeOptions{IdleTimeout: a.Config.ConsoleIdleTimeout},
		Logger:   logger,
	}
	if n, err := a.ConsoleAccess.CloseOrphans(ctx); err != nil {
		return fmt.Errorf("console: %w", err)
	} else if n > 0 {
		logger.Warn("closed the records of console sessions cut by the last stop", "count", n)
	}
	deps.ConsoleAccess, deps.ConsoleHub, deps.ConsoleUpgrader = a.ConsoleAccess, a.ConsoleHub, upgrader
	return nil
}

// replicaName identifies this process in console session records: the host name (the
// pod name on Kubernetes), so a restarted container finds its own unclosed sessions.
func replicaName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "pid-" + strconv.Itoa(os.Getpid())
	}
	return h
}
