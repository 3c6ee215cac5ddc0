package db

import (
	"bytes"
	"context"
	"strings"

	"entgo.io/ent/dialect/sql/schema"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaDiff returns the SQL that would bring the database to the Ent schema; empty when
// the committed migrations already match it. `shepherd migrate diff` uses it to draft a new
// migration and a test uses it to catch a schema change that has no migration.
func SchemaDiff(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	sqlDB := SQLDB(pool)
	defer sqlDB.Close()
	client := NewEnt(sqlDB)
	var buf bytes.Buffer
	if err := client.Schema.WriteTo(ctx, &buf, schema.WithForeignKeys(true)); err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.Split(buf.String(), "\n") {
		t := strings.TrimSpace(line)
		// WriteTo wraps statements in BEGIN/COMMIT and comments; keep only statements.
		if t == "" || t == "BEGIN;" || t == "COMMIT;" || strings.HasPrefix(t, "--") {
			continue
		}
		out = append(out, t)
	}
	return strings.Join(out, "\n"), nil
}
