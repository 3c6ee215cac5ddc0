package faults

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kv-shepherd.io/shepherd/internal/testdb"
)

// TestReplicasStartingTogetherOnAnEmptyDatabase starts two Shepherd processes at the same
// moment against an empty database: both become ready, each migration is recorded once,
// and the seeded rows (permissions, built-in roles, the admin account) exist once.
func TestReplicasStartingTogetherOnAnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := emptyDatabase(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + t.TempDir()}
	a := launchChild(t, "replica-a", freeAddr(t), env)
	b := launchChild(t, "replica-b", freeAddr(t), env)
	a.waitReady(t, "replica-a")
	b.waitReady(t, "replica-b")

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []struct{ what, sql string }{
		{"migrations recorded twice", `SELECT count(*) FROM (SELECT version FROM schema_migrations GROUP BY version HAVING count(*) > 1) d`},
		{"roles seeded twice", `SELECT count(*) FROM (SELECT name FROM roles GROUP BY name HAVING count(*) > 1) d`},
		{"permissions seeded twice", `SELECT count(*) FROM (SELECT id FROM permissions GROUP BY id HAVING count(*) > 1) d`},
		{"admin accounts", `SELECT count(*) - 1 FROM users WHERE username = 'admin'`},
	} {
		var n int
		if err := conn.QueryRow(ctx, q.sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Errorf("%s: %d", q.what, n)
		}
	}
	var versions int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil || versions == 0 {
		t.Fatalf("schema_migrations has %d rows (%v)", versions, err)
	}
}

// emptyDatabase creates a database with nothing in it on the test server (dropped at the end).
func emptyDatabase(t *testing.T) string {
	t.Helper()
	server := os.Getenv(testdb.EnvURL)
	if server == "" {
		t.Fatal(testdb.EnvURL + " is not set: run the tests with `make test`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("empty_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
