// Command shepherd runs the Shepherd portal.
//
//	shepherd serve            production: DATABASE_URL, OIDC settings and keys from the environment
//	shepherd dev              embedded default: private PostgreSQL, demo data, development sign-in
//	shepherd migrate          apply database migrations and exit
//	shepherd migrate diff N   draft migrations/NNNN_N.sql from the Ent schema
//	shepherd pg-exec -- CMD   run CMD with a private PostgreSQL (the test suite uses it)
//	shepherd config-reference print the settings table (Markdown)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kv-shepherd.io/shepherd/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = withConfig(false, func(cfg *config.Config, log *slog.Logger) error { return serve(ctx, cfg, log) })
	case "dev":
		err = withConfig(true, func(cfg *config.Config, log *slog.Logger) error { return dev(ctx, cfg, log) })
	case "migrate":
		err = withConfig(false, func(cfg *config.Config, log *slog.Logger) error { return migrate(ctx, cfg, log, args[1:]) })
	case "pg-exec":
		return pgExec(ctx, args[1:])
	case "config-reference":
		printReference()
		return 0
	case "help", "-h", "--help":
		usage()
		return 0
	default:
		fmt.Fprintf(os.Stderr, "shepherd: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			fmt.Fprintf(os.Stderr, "shepherd: configuration error: %s\n", fe.Error())
			return 2
		}
		fmt.Fprintf(os.Stderr, "shepherd: %v\n", err)
		return 1
	}
	return 0
}

func withConfig(devMode bool, fn func(*config.Config, *slog.Logger) error) error {
	getenv := os.Getenv
	if devMode {
		getenv = func(k string) string {
			if k == "SHEPHERD_DEV_MODE" {
				return "true"
			}
			return os.Getenv(k)
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	return fn(cfg, newLogger(cfg))
}

func newLogger(cfg *config.Config) *slog.Logger {
	level, _ := config.ParseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: shepherd <command>

commands:
  serve             run the portal (needs DATABASE_URL)
  dev               run the embedded default: private PostgreSQL under .data/, demo data, dev sign-in
  migrate           apply database migrations and exit
  migrate diff NAME write migrations/NNNN_NAME.sql with the changes the Ent schema needs
  pg-exec [--dir D] [--port P] -- CMD...
                    run CMD with a private PostgreSQL; SHEPHERD_TEST_DATABASE_URL points at it
  config-reference  print every setting as a Markdown table
`)
}

func printReference() {
	fmt.Println("| Variable | YAML key | Default | Meaning |")
	fmt.Println("|---|---|---|---|")
	for _, s := range config.Reference() {
		def := s.Default
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Printf("| `%s` | `%s` | %s | %s |\n", s.Env, s.YAML, def, s.Doc)
	}
}
