package db

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tally counts the statements one unit of work (a web request) sends to PostgreSQL: how
// many, how many of them write, how many had to be prepared first, and the time spent
// waiting for their answers. The access log reports it per request and the statement
// budget tests hold pages to it. A tally travels in the context, so statements of
// background work (River, status sync) are never counted against a page.
type Tally struct {
	mu         sync.Mutex
	statements int
	writes     int
	prepares   int
	wait       time.Duration
	sql        []string
}

// TallyCounts is a snapshot of a Tally.
type TallyCounts struct {
	Statements int
	Writes     int
	Prepares   int
	Wait       time.Duration
	// SQL is the statements' text in order (for a failing budget's message and debug logs).
	SQL []string
}

type tallyKey struct{}

// WithTally returns a context whose statements are counted in the returned Tally.
func WithTally(ctx context.Context) (context.Context, *Tally) {
	t := &Tally{}
	return context.WithValue(ctx, tallyKey{}, t), t
}

// Counts returns what was counted so far.
func (t *Tally) Counts() TallyCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TallyCounts{
		Statements: t.statements,
		Writes:     t.writes,
		Prepares:   t.prepares,
		Wait:       t.wait,
		SQL:        append([]string(nil), t.sql...),
	}
}

// Totals are process-wide counters over every statement (background work included); the
// page benchmark divides their growth by the requests it made.
type Totals struct {
	Statements int64
	Prepares   int64
	Wait       time.Duration
}

var totals struct {
	statements atomic.Int64
	prepares   atomic.Int64
	wait       atomic.Int64
}

// ProcessTotals returns the process-wide counters.
func ProcessTotals() Totals {
	return Totals{
		Statements: totals.statements.Load(),
		Prepares:   totals.prepares.Load(),
		Wait:       time.Duration(totals.wait.Load()),
	}
}

// tracer is the pool's pgx tracer: it feeds the Tally in the statement's context (if
// any) and the process totals. pgx calls it for every Query/Exec, including those that
// arrive through database/sql (Ent, River's insert client), and for the implicit
// prepares of its statement cache.
type tracer struct{}

type traceStartKey struct{}

func (tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	totals.statements.Add(1)
	if t, ok := ctx.Value(tallyKey{}).(*Tally); ok {
		t.mu.Lock()
		t.statements++
		if isWrite(data.SQL) {
			t.writes++
		}
		t.sql = append(t.sql, data.SQL)
		t.mu.Unlock()
	}
	return context.WithValue(ctx, traceStartKey{}, time.Now())
}

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	start, ok := ctx.Value(traceStartKey{}).(time.Time)
	if !ok {
		return
	}
	d := time.Since(start)
	totals.wait.Add(int64(d))
	if t, ok := ctx.Value(tallyKey{}).(*Tally); ok {
		t.mu.Lock()
		t.wait += d
		t.mu.Unlock()
	}
}

func (tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	totals.prepares.Add(1)
	if t, ok := ctx.Value(tallyKey{}).(*Tally); ok {
		t.mu.Lock()
		t.prepares++
		t.mu.Unlock()
	}
	return ctx
}

func (tracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// isWrite reports whether a statement changes data. A data-modifying CTE (WITH ...
// INSERT) counts as a write too. It looks at the leading keyword without copying the
// text: it runs for every statement.
func isWrite(sql string) bool {
	s := strings.TrimLeft(sql, " \t\r\n(")
	for _, verb := range []string{"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"} {
		if len(s) >= len(verb) && strings.EqualFold(s[:len(verb)], verb) {
			return true
		}
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "WITH") {
		u := strings.ToUpper(s)
		for _, verb := range []string{"INSERT ", "UPDATE ", "DELETE "} {
			if strings.Contains(u, verb) {
				return true
			}
		}
	}
	return false
}
