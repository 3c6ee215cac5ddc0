package governance

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"kv-shepherd.io/shepherd/internal/paging"
)

// listing is one page of a list ordered by (created_at, id), in a single statement: the
// rows of the page (found by number or by keyset), the joins that name what a row shows,
// and a count capped at paging.CountCap. Lists grow (a million VMs); this keeps what a
// page costs independent of how long the list is:
//   - the count stops at CountCap+1 entries ("more than 200");
//   - a page after or before a row is an index range scan from that row, so the 400th
//     page costs what the first does; numbered pages stay for the counted range.
//
// The count is a scalar subquery PostgreSQL runs once (an InitPlan), so it rides on the
// page's statement; only an empty page (past the end) needs a second look.
type listing struct {
	table string   // FROM table, aliased as alias in where, cols and joins
	alias string   // e.g. "v"
	where []string // conditions on alias, with $n placeholders from arg
	args  []any
	desc  bool // newest first
}

// arg adds a parameter and returns its placeholder.
func (l *listing) arg(v any) string {
	l.args = append(l.args, v)
	return "$" + strconv.Itoa(len(l.args))
}

// cond adds a condition.
func (l *listing) cond(c string) { l.where = append(l.where, c) }

func (l *listing) whereSQL(extra ...string) string {
	all := append(append([]string(nil), l.where...), extra...)
	if len(all) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(all, " AND ")
}

// order is the list's order, or its reverse (to read backwards from a row or the end).
func (l *listing) order(reverse bool) string {
	dir := "ASC"
	if l.desc != reverse {
		dir = "DESC"
	}
	return fmt.Sprintf("%[1]s.created_at %[2]s, %[1]s.id %[2]s", l.alias, dir)
}

// countSQL counts matching rows up to CountCap+1. It reuses the list's alias: inside the
// subquery the inner FROM shadows the outer one.
func (l *listing) countSQL() string {
	return fmt.Sprintf("(SELECT count(*) FROM (SELECT 1 FROM %s %s%s LIMIT %d) counted)",
		l.table, l.alias, l.whereSQL(), paging.CountCap+1)
}

// pageQuery lists one page. cols select from alias and the joined tables; scan reads one
// row (its columns then the count, an int) and returns the row's keyset. withCount=false
// skips the count (a fragment that shows no pager).
type pageQuery struct {
	cols      string
	joins     string
	withCount bool
	scan      func(rows *sql.Rows, total *int) (paging.Cursor, error)
	// drop removes the row at index i of what scan collected (the look-ahead row).
	drop func(i int)
	// size is how many rows scan has collected.
	size func() int
}

// run lists the page for p (numbered) or k (keyset) and describes it.
func (l *listing) run(ctx context.Context, db *sql.DB, p paging.Page, k paging.Keyset, q pageQuery) (paging.Window, error) {
	p = p.Standard()
	w, err := l.once(ctx, db, p, k, q)
	if err != nil || q.size() > 0 || !q.withCount {
		return w, err
	}
	// Nothing on the page. Either the list is empty, or the link went past an end (a
	// stale page number, a cursor whose neighbours were deleted): show the page at that
	// end — the first before the first row, the last after the last.
	if !k.Before.IsZero() {
		return l.once(ctx, db, paging.Page{Number: 1, PerPage: p.PerPage}, paging.Keyset{}, q)
	}
	if k.Active() && !k.Last {
		return l.once(ctx, db, p, paging.Keyset{Last: true}, q)
	}
	if !k.Active() && p.Number > 1 {
		total, err := l.count(ctx, db)
		if err != nil {
			return w, err
		}
		if total > paging.CountCap {
			return l.once(ctx, db, p, paging.Keyset{Last: true}, q)
		}
		return l.once(ctx, db, p.Within(total), k, q)
	}
	return w, nil
}

func (l *listing) count(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT "+l.countSQL(), l.args...).Scan(&n)
	return n, err
}

func (l *listing) once(ctx context.Context, db *sql.DB, p paging.Page, k paging.Keyset, q pageQuery) (paging.Window, error) {
	// Work on a copy: the keyset and paging parameters belong to this statement only.
	lc := *l
	lc.args = append([]any(nil), l.args...)
	var extra []string
	reverse := false
	offset := 0
	switch {
	case k.Last:
		reverse = true
	case !k.Before.IsZero():
		reverse = true
		op := "<"
		if l.desc {
			op = ">"
		}
		extra = append(extra, fmt.Sprintf("(%[1]s.created_at, %[1]s.id) %[2]s (%[3]s, %[4]s)",
			l.alias, op, lc.arg(k.Before.At), lc.arg(k.Before.ID)))
	case !k.After.IsZero():
		op := ">"
		if l.desc {
			op = "<"
		}
		extra = append(extra, fmt.Sprintf("(%[1]s.created_at, %[1]s.id) %[2]s (%[3]s, %[4]s)",
			l.alias, op, lc.arg(k.After.At), lc.arg(k.After.ID)))
	default:
		offset = min(p.Offset(), paging.MaxOffset/p.PerPage*p.PerPage)
	}
	countCol := "0"
	if q.withCount {
		countCol = lc.countSQL()
	}
	// The inner query finds the page's rows on the (created_at, id) index (OFFSET is at
	// most paging.MaxOffset, so never deep); the joins then name what those few rows show.
	// (Selecting ids first and joining the table again made PostgreSQL hash the whole
	// table of a small list to find 21 rows.)
	stmt := fmt.Sprintf("SELECT %s, %s FROM (SELECT * FROM %s %s%s ORDER BY %s LIMIT %d OFFSET %d) %s%s ORDER BY %s",
		q.cols, countCol, l.table, l.alias, lc.whereSQL(extra...), lc.order(reverse), p.PerPage+1, offset,
		l.alias, q.joins, lc.order(false))
	rows, err := db.QueryContext(ctx, stmt, lc.args...)
	if err != nil {
		return paging.Window{}, err
	}
	defer rows.Close()
	var keys []paging.Cursor
	total := 0
	for rows.Next() {
		key, err := q.scan(rows, &total)
		if err != nil {
			return paging.Window{}, err
		}
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return paging.Window{}, err
	}
	w := paging.Window{Page: p, Total: total}
	if total > paging.CountCap {
		w.Total, w.Capped = paging.CountCap, true
	}
	more := len(keys) > p.PerPage
	if more {
		// The look-ahead row is the one farthest from where the page starts.
		i := len(keys) - 1
		if reverse {
			i = 0
		}
		q.drop(i)
		keys = append(keys[:i], keys[i+1:]...)
	}
	if k.Active() {
		w.Page.Number = 0
		if reverse {
			w.HasPrev, w.HasNext = more, !k.Last
		} else {
			w.HasPrev, w.HasNext = true, more
		}
	} else {
		w.Page.Number = offset/p.PerPage + 1
		w.HasPrev, w.HasNext = offset > 0, more
	}
	if len(keys) > 0 {
		w.First, w.Last = keys[0], keys[len(keys)-1]
	}
	return w, nil
}
