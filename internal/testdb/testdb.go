// Package testdb gives each test a real PostgreSQL database of its own.
//
// Databases are cloned from a template that is migrated once per schema
// version and server (CREATE DATABASE ... TEMPLATE copies files, which is
// much faster than running the migrations again). The server comes from
// SHEPHERD_TEST_DATABASE_URL, which `make test` (shepherd pg-exec) sets.
package testdb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kv-shepherd.io/shepherd/internal/db"
)

// EnvURL names the variable holding a DSN to the `postgres` database of a
// server on which the tests may create databases.
const EnvURL = "SHEPHERD_TEST_DATABASE_URL"

// templateLockKey serialises template creation between test binaries
// (`go test ./...` runs packages in parallel).
const templateLockKey int64 = 0x7465737464622d31 // "testdb-1"

const templatePrefix = "shepherd_tmpl_"

// setupTimeout bounds template creation, including the wait for another
// binary that holds the lock while it migrates.
const setupTimeout = 3 * time.Minute

// template caches the template database name, or the error that prevented
// creating it, for the life of the test binary.
var template struct {
	once sync.Once
	name string
	err  error
}

// New returns a pool on a brand-new database cloned from a migrated template; the database is dropped at t.Cleanup.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDSN(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	// Registered after NewDSN's drop, so it runs before it.
	t.Cleanup(pool.Close)
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return pool
}

// NewDSN is the same but returns the DSN (for code that opens its own pool); dropped at cleanup.
func NewDSN(t testing.TB) string {
	t.Helper()
	serverURL := os.Getenv(EnvURL)
	if serverURL == "" {
		t.Fatal("SHEPHERD_TEST_DATABASE_URL is not set: run the tests with `make test` (it starts a private PostgreSQL)")
	}

	template.once.Do(func() {
		template.name, template.err = ensureTemplate(serverURL, t)
	})
	if template.err != nil {
		t.Fatalf("testdb: preparing the template database: %v", template.err)
	}

	name := "t_" + strings.ToLower(rand.Text())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := clone(ctx, serverURL, template.name, name); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, serverURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: dropping %s: %v", name, err)
		}
	})
	return withDatabase(serverURL, name)
}

// ensureTemplate returns the name of the template for the current
// migrations, creating and migrating it if this server lacks it.
func ensureTemplate(serverURL string, t testing.TB) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	name := templatePrefix + db.Fingerprint()[:12]

	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", err
	}
	// Closing the session also releases the advisory lock.
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("taking the template lock: %w", err)
	}
	// Another binary may have created the template while we waited.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}

	// Build under a scratch name and rename when done, so that a binary
	// killed mid-migration never leaves a half-migrated template behind.
	build := name + "_build"
	ident, buildIdent := pgx.Identifier{name}.Sanitize(), pgx.Identifier{build}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+buildIdent+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+buildIdent); err != nil {
		return "", err
	}
	if err := migrate(ctx, withDatabase(serverURL, build), t); err != nil {
		return "", err
	}
	// Cloning fails while anyone is connected to the template; refusing
	// connections keeps stray sessions (say, a curious psql) out.
	for _, stmt := range []string{
		"ALTER DATABASE " + buildIdent + " RENAME TO " + ident,
		"ALTER DATABASE " + ident + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return "", err
		}
	}
	dropStaleTemplates(ctx, conn, name, t)
	return name, nil
}

// migrate runs the app's migrations on the database at dsn and closes
// every connection to it afterwards.
func migrate(ctx context.Context, dsn string, t testing.TB) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := db.Migrate(ctx, pool, logger); err != nil {
		return fmt.Errorf("migrating the template: %w", err)
	}
	return nil
}

// dropStaleTemplates removes templates of older schema versions. Failures
// do not matter: a template in use by another run simply stays.
func dropStaleTemplates(ctx context.Context, conn *pgx.Conn, keep string, t testing.TB) {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
		templatePrefix+"%", keep)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		ident := pgx.Identifier{n}.Sanitize()
		// IS_TEMPLATE databases cannot be dropped.
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE false"); err != nil {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident); err != nil {
			t.Logf("testdb: keeping old template %s: %v", n, err)
		}
	}
}

// clone creates database name as a copy of tmpl.
func clone(ctx context.Context, serverURL, tmpl, name string) error {
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	for attempt := 1; ; attempt++ {
		err := exec(ctx, serverURL, stmt)
		// 55006 object_in_use: "source database is being accessed by other
		// users". PostgreSQL itself waits 5s for such sessions to leave,
		// so this is rare; retry a few times anyway.
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 5 {
			if err != nil {
				return fmt.Errorf("creating database %s from %s: %w", name, tmpl, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// exec runs one statement on its own short-lived connection (no pool
// outlives a test, so leak checkers stay quiet).
func exec(ctx context.Context, dsn, stmt string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// withDatabase returns serverURL pointing at database name instead. It
// accepts URLs and keyword/value strings ("host=... dbname=...").
func withDatabase(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Keyword/value form: the last occurrence of a keyword wins.
		return serverURL + " dbname=" + name
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}
