package db_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kv-shepherd.io/shepherd/ent/permission"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/migrations"
)

// migrationVersions lists the embedded app migrations, as Migrate names them.
func migrationVersions(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".sql")
	}
	return names
}

func newStore(t *testing.T, pool *pgxpool.Pool) *db.Store {
	t.Helper()
	store := db.NewStore(db.SQLDB(pool))
	t.Cleanup(func() { _ = store.SQL.Close() }) // runs before testdb closes the pool
	return store
}

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testdb.New(t)
	want := len(migrationVersions(t))

	before := count(t, pool, "SELECT count(*) FROM schema_migrations")
	if before != want {
		t.Fatalf("schema_migrations has %d rows on a migrated database, want %d", before, want)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := db.Migrate(ctx, pool, logger); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := count(t, pool, "SELECT count(*) FROM schema_migrations"); after != before {
		t.Errorf("schema_migrations rows: %d before, %d after a second Migrate", before, after)
	}
	if strings.Contains(logs.String(), "applied") {
		t.Errorf("second Migrate applied something:\n%s", logs.String())
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'river_job'"); n != 1 {
		t.Errorf("River's table river_job: found %d, want 1", n)
	}
}

func TestConcurrentMigrateOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	serverURL := os.Getenv(testdb.EnvURL)
	if serverURL == "" {
		t.Fatal("SHEPHERD_TEST_DATABASE_URL is not set: run the tests with `make test`")
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	name := "t_migrate_" + strings.ToLower(rand.Text())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("SHEPHERD_TEST_DATABASE_URL must be a URL here: %v", err)
	}
	u.Path = "/" + name
	dsn := u.String()

	const replicas = 3
	pools := make([]*pgxpool.Pool, replicas)
	for i := range pools {
		p, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close) // before the DROP registered above
		pools[i] = p
	}
	errs := make([]error, replicas)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range pools {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = db.Migrate(ctx, pools[i], slog.New(slog.DiscardHandler))
		}()
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Migrate: %v", i, err)
		}
	}

	versions := migrationVersions(t)
	for _, v := range versions {
		if n := count(t, pools[0], "SELECT count(*) FROM schema_migrations WHERE version = $1", v); n != 1 {
			t.Errorf("migration %s recorded %d times, want 1", v, n)
		}
	}
	if n := count(t, pools[0], "SELECT count(*) FROM schema_migrations"); n != len(versions) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(versions))
	}
	if n := count(t, pools[0], "SELECT count(*) FROM river_migration"); n == 0 {
		t.Error("River's migrations were not applied")
	}
	if n := count(t, pools[0], "SELECT count(*) FROM (SELECT version FROM river_migration GROUP BY line, version HAVING count(*) > 1) d"); n != 0 {
		t.Errorf("%d River migrations recorded more than once", n)
	}
	if diff, err := db.SchemaDiff(ctx, pools[0]); err != nil || diff != "" {
		t.Errorf("schema after concurrent Migrate differs from Ent (err %v):\n%s", err, diff)
	}
}

func TestSchemaMatchesEnt(t *testing.T) {
	t.Parallel()
	diff, err := db.SchemaDiff(t.Context(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("the migrations do not produce the Ent schema; add a migration for:\n%s", diff)
	}
}

// The guard above must notice drift: a dropped index shows up in the diff.
func TestSchemaDiffDetectsDrift(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	if _, err := pool.Exec(t.Context(), "DROP INDEX auditlog_created_at"); err != nil {
		t.Fatal(err)
	}
	diff, err := db.SchemaDiff(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "auditlog_created_at") {
		t.Errorf("SchemaDiff after dropping an index = %q, want it to recreate auditlog_created_at", diff)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testdb.New(t)
	store := newStore(t, pool)
	if err := audit.Write(ctx, store.Ent, audit.Entry{Action: "test.append_only", ActorName: "tester",
		Details: map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_logs SET actor_name = 'mallory'",
		"DELETE FROM audit_logs",
		"TRUNCATE audit_logs",
	} {
		_, err := pool.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want an append-only error", stmt, err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM audit_logs WHERE action = 'test.append_only' AND actor_name = 'tester'"); n != 1 {
		t.Errorf("audit row count after tampering attempts = %d, want 1 unchanged row", n)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	start := time.Now()
	pool, err := db.Open(t.Context(), "postgres://postgres@127.0.0.1:1/x?sslmode=disable", db.PoolOptions{})
	if err == nil {
		pool.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("err = %v, want it to say the database is not reachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to report a refused connection", d)
	}
}

func TestOpenMalformedURLHidesPassword(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://u:s3cretpw@[bad",
		"postgres://u:s3cretpw@host:notaport/db",
		"host=h user=u password=s3cretpw port=notaport",
	} {
		pool, err := db.Open(t.Context(), dsn, db.PoolOptions{})
		if err == nil {
			pool.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open(%q) error reveals the password: %v", dsn, err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if db.Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	got := db.Redact(errors.New(`dial postgres://alice:hunter2pw@db:5432/app and password=hunter2pw`)).Error()
	if strings.Contains(got, "hunter2pw") || !strings.Contains(got, "alice") {
		t.Errorf("Redact = %q, want the password gone and the user kept", got)
	}
}

var errBoom = errors.New("boom")

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t, testdb.New(t))
	err := store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.Ent.Permission.Create().SetID("test:rollback").Exec(ctx); err != nil {
			return err
		}
		// Visible inside the transaction...
		if n := tx.Ent.Permission.Query().Where(permission.ID("test:rollback")).CountX(ctx); n != 1 {
			t.Errorf("inside the transaction the row count is %d, want 1", n)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx returned %v, want the callback's error", err)
	}
	// ...and gone after it.
	if n := store.Ent.Permission.Query().Where(permission.ID("test:rollback")).CountX(ctx); n != 0 {
		t.Errorf("row survived a failed transaction (count %d)", n)
	}
}

func TestInTxRollsBackOnPanic(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t, testdb.New(t))
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Errorf("recovered %v, want the callback's panic to propagate", p)
			}
		}()
		_ = store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			tx.Ent.Permission.Create().SetID("test:panic").ExecX(ctx)
			panic("kaboom")
		})
	}()
	if n := store.Ent.Permission.Query().Where(permission.ID("test:panic")).CountX(ctx); n != 0 {
		t.Errorf("row survived a panicking transaction (count %d)", n)
	}
}

func TestInTxCommits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t, testdb.New(t))
	if err := store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return tx.Ent.Permission.Create().SetID("test:commit").Exec(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	if n := store.Ent.Permission.Query().Where(permission.ID("test:commit")).CountX(ctx); n != 1 {
		t.Errorf("committed row count = %d, want 1", n)
	}
}
