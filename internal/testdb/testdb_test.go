package testdb

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := New(t), New(t)

	var nameA, nameB string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	if nameA == nameB {
		t.Fatalf("both pools use database %s", nameA)
	}

	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	var inA, inB bool
	const q = "SELECT to_regclass('only_in_a') IS NOT NULL"
	if err := a.QueryRow(ctx, q).Scan(&inA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, q).Scan(&inB); err != nil {
		t.Fatal(err)
	}
	if !inA || inB {
		t.Fatalf("table only_in_a: in a = %v, in b = %v; want true, false", inA, inB)
	}
}

func TestCloneIsMigrated(t *testing.T) {
	t.Parallel()
	var n int
	if err := New(t).QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("a fresh test database has no tables: the template was not migrated")
	}
}

func TestNewDSNDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("use", func(t *testing.T) {
		conn, err := pgx.Connect(t.Context(), NewDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})

	conn, err := pgx.Connect(t.Context(), os.Getenv(EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if name == "" || exists {
		t.Fatalf("database %q still exists after its test finished", name)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5439/postgres?sslmode=disable": "postgres://postgres@127.0.0.1:5439/t_x?sslmode=disable",
		"postgresql://u@h/db":           "postgresql://u@h/t_x",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname=t_x",
	} {
		if got := withDatabase(in, "t_x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}
