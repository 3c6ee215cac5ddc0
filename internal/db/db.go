// Package db opens the process's single PostgreSQL pool and applies the schema.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"kv-shepherd.io/shepherd/ent"
)

// PoolOptions tune the one pool shared by web requests, Ent and River workers.
type PoolOptions struct {
	MaxConns int32
	MinConns int32
}

// Open connects and verifies the database is reachable within the context's deadline.
func Open(ctx context.Context, dsn string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL: %w", Redact(err))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	cfg.MaxConnLifetime = time.Hour
	cfg.MaxConnIdleTime = 10 * time.Minute
	// pgx's default execution mode (QueryExecModeCacheStatement) prepares each distinct SQL
	// text once per connection and reuses it, for Ent and River's database/sql clients too
	// (stdlib passes their queries to the same pgx.Conn). The tracer counts statements and
	// those prepares (see Tally).
	cfg.ConnConfig.Tracer = tracer{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s@%s:%d/%s is not reachable: %w",
			cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// SQLDB exposes the pool as *sql.DB so Ent and River's database/sql driver share it.
func SQLDB(pool *pgxpool.Pool) *sql.DB { return stdlib.OpenDBFromPool(pool) }

// NewEnt builds an Ent client on the shared pool.
func NewEnt(db *sql.DB) *ent.Client {
	return ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db)))
}

// Redact keeps connection strings (which may hold passwords) out of error messages.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s", redactPasswords(err.Error()))
}
