package db

import (
	"context"
	"database/sql"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
)

// Store is what use cases hold: the shared *sql.DB and an Ent client on it.
type Store struct {
	SQL *sql.DB
	Ent *ent.Client
}

// NewStore wraps the pool's *sql.DB.
func NewStore(sqlDB *sql.DB) *Store { return &Store{SQL: sqlDB, Ent: NewEnt(sqlDB)} }

// Tx is one unit of work. Ent (and later River's InsertTx) use the same *sql.Tx, so all
// rows of a state change commit or roll back together.
type Tx struct {
	Ent *ent.Client
	SQL *sql.Tx
}

// InTx runs fn in a transaction and commits when it returns nil. Any error, or a panic,
// rolls everything back. Transactions do not nest: pass the Tx down instead.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (err error) {
	sqlTx, err := s.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{SQL: sqlTx, Ent: ent.NewClient(ent.Driver(txDriver{entsql.Conn{ExecQuerier: sqlTx}}))}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// txDriver binds Ent to an open *sql.Tx. Ent opens its own short transactions for some
// writes (edges of a new node); inside ours those become no-ops, so everything still
// commits or rolls back as one unit.
type txDriver struct{ entsql.Conn }

func (d txDriver) Tx(context.Context) (dialect.Tx, error) { return dialect.NopTx(d), nil }
func (txDriver) Close() error                             { return nil }
func (txDriver) Dialect() string                          { return dialect.Postgres }

// Count runs a query returning one integer (a COUNT(*)) through Ent's connection, for
// counts Ent's builder cannot express (partial-index conditions, capped counts).
func Count(ctx context.Context, client *ent.Client, query string, args ...any) (int, error) {
	rows, err := client.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}
