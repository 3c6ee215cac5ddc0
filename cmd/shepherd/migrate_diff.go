package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/migrations"
)

var migrationName = regexp.MustCompile(`^[a-z0-9_]+$`)

// migrateDiff migrates a scratch database with the committed migrations, asks Ent what is
// still missing, and writes it as the next numbered migration for review.
func migrateDiff(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, name string) error {
	if !migrationName.MatchString(name) {
		return fmt.Errorf("migration name %q: use lower-case letters, digits and underscores", name)
	}
	scratch := "shepherd_diff_" + auth.RandomToken(6)
	scratch = strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(scratch, "x"))
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+scratch); err != nil {
		return fmt.Errorf("create scratch database: %w", err)
	}
	defer func() { _, _ = pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)") }()
	spCfg := pool.Config() // a copy
	spCfg.ConnConfig.Database = scratch
	sp, err := pgxpool.NewWithConfig(ctx, spCfg)
	if err != nil {
		return err
	}
	defer sp.Close()
	if err := db.Migrate(ctx, sp, log); err != nil {
		return err
	}
	diff, err := db.SchemaDiff(ctx, sp)
	if err != nil {
		return err
	}
	if diff == "" {
		fmt.Println("The committed migrations already match the Ent schema; nothing to write.")
		return nil
	}
	names, _ := fs.Glob(migrations.FS, "*.sql")
	sort.Strings(names)
	next := 1
	if len(names) > 0 {
		n, _ := strconv.Atoi(names[len(names)-1][:4])
		next = n + 1
	}
	path := filepath.Join("migrations", fmt.Sprintf("%04d_%s.sql", next, name))
	body := "-- Generated from ent/schema by `shepherd migrate diff`; review before committing.\n\n" + diff + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Printf("Wrote %s. Review it, then run `make test`.\n", path)
	return nil
}
