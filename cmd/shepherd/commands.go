package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"kv-shepherd.io/shepherd/internal/app"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/pgembed"
	"kv-shepherd.io/shepherd/internal/runner"
)

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := cfg.CheckServingURL(); err != nil {
		return err
	}
	if cfg.DevMode {
		log.Warn("SHEPHERD_DEV_MODE is on: the development sign-in is mounted. Do not expose this instance.")
	}
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx, nil)
}

// dev is the embedded default behind `make run`.
func dev(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := cfg.CheckServingURL(); err != nil {
		return err
	}
	started := time.Now()
	var pg *pgembed.Instance // the private PostgreSQL, when dev runs one
	if cfg.DatabaseURL == "" {
		inst, err := pgembed.Start(ctx, pgembed.Options{Dir: filepath.Join(cfg.DataDir, "pg"), Port: cfg.PGPort, Logger: log, Install: true})
		if err != nil {
			return fmt.Errorf("private PostgreSQL: %w", err)
		}
		pg = inst
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := inst.Stop(stopCtx); err != nil {
				log.Error("stopping PostgreSQL", "err", err)
			} else if inst.Started() {
				log.Info("PostgreSQL stopped")
			}
		}()
		if err := inst.EnsureDatabase(ctx, "shepherd"); err != nil {
			return err
		}
		cfg.DatabaseURL = inst.DSN("shepherd")
		log.Info("private PostgreSQL ready", "dir", filepath.Join(cfg.DataDir, "pg"), "port", inst.Port())
	}
	if cfg.SimStateDir == "" {
		cfg.SimStateDir = filepath.Join(cfg.DataDir, "sim")
	}
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if a.DevIssuer != nil {
		log.Info("ready to serve", "startup", time.Since(started).Round(time.Millisecond).String(),
			"open", cfg.BaseURL, "demo_users", "alice bob dana carol victor (via the sign-in button)", "local_admin", "admin")
	} else {
		log.Info("ready to serve", "startup", time.Since(started).Round(time.Millisecond).String(),
			"open", cfg.BaseURL, "sign_in", cfg.OIDCIssuer, "local_admin", "admin")
	}
	if pg == nil {
		return a.Run(ctx, nil)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	run := runner.New(watchCtx, log)
	run.Go("postgres watchdog", func(ctx context.Context) error {
		watchPostgres(ctx, pg, log, 3*time.Second)
		return nil
	})
	err = a.Run(ctx, nil)
	stopWatch()
	run.Wait()
	return err
}

// watchPostgres says plainly, once, when the private PostgreSQL dies under `make run`,
// and how to recover; and again when it is back.
func watchPostgres(ctx context.Context, pg *pgembed.Instance, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	up := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		alive := pg.Alive(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case up && !alive:
			log.Error("the private PostgreSQL has stopped; Shepherd cannot serve or run jobs without it",
				"dir", pg.Dir(), "log", pg.LogFile(), "last_log_lines", pg.LogTail(5))
			log.Error("to recover: stop Shepherd (Ctrl-C) and run `make run` again, which starts PostgreSQL on the same data; " +
				"if it will not start, the log above says why, and removing " + pg.Dir() + " starts afresh (the demo data is recreated)")
		case !up && alive:
			log.Info("the private PostgreSQL is running again; Shepherd reconnects by itself")
		}
		up = alive
	}
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string) error {
	if cfg.DatabaseURL == "" {
		return &config.FieldError{Key: "DATABASE_URL", Message: "is required"}
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	if len(args) >= 1 && args[0] == "diff" {
		if len(args) != 2 {
			return fmt.Errorf("usage: shepherd migrate diff NAME")
		}
		return migrateDiff(ctx, pool, log, args[1])
	}
	if err := db.Migrate(ctx, pool, log); err != nil {
		return err
	}
	log.Info("database is up to date")
	return nil
}

func pgExec(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("pg-exec", flag.ContinueOnError)
	dir := fs.String("dir", ".data/test-pg", "data directory of the private server")
	port := fs.Int("port", 5439, "TCP port of the private server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "usage: shepherd pg-exec [--dir D] [--port P] -- CMD [ARGS...]")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	code, err := pgembed.Exec(ctx, pgembed.Options{Dir: *dir, Port: *port, Fast: true, Logger: log, Install: true}, argv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shepherd pg-exec: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
