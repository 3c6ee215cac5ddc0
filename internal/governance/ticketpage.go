package governance

import (
	"context"
	"slices"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/predicate"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ticketPage lists one page of tickets matching where, ordered by (created_at, id), in one
// statement: the page (by number or keyset, see listing) and, when withCount, the count
// capped at paging.CountCap, which rides along as a selected value. Only an empty page
// (past the end) needs a second statement.
func (s *Service) ticketPage(ctx context.Context, where []predicate.ApprovalTicket, desc bool,
	p paging.Page, k paging.Keyset, withCount bool) ([]*ent.ApprovalTicket, paging.Window, error) {
	p = p.Standard()
	rows, w, err := s.ticketPageOnce(ctx, where, desc, p, k, withCount)
	if err != nil || len(rows) > 0 || !withCount {
		return rows, w, err
	}
	if k.Active() && !k.Last {
		return s.ticketPageOnce(ctx, where, desc, p, paging.Keyset{Last: true}, withCount)
	}
	if !k.Active() && p.Number > 1 {
		total, err := s.Store.Ent.ApprovalTicket.Query().Where(where...).Limit(paging.CountCap + 1).Count(ctx)
		if err != nil {
			return nil, w, err
		}
		if total > paging.CountCap {
			return s.ticketPageOnce(ctx, where, desc, p, paging.Keyset{Last: true}, withCount)
		}
		return s.ticketPageOnce(ctx, where, desc, p.Within(total), k, withCount)
	}
	return rows, w, nil
}

const countedAs = "counted_rows"

func (s *Service) ticketPageOnce(ctx context.Context, where []predicate.ApprovalTicket, desc bool,
	p paging.Page, k paging.Keyset, withCount bool) ([]*ent.ApprovalTicket, paging.Window, error) {
	q := s.Store.Ent.ApprovalTicket.Query().Where(where...)
	reverse := k.Last || !k.Before.IsZero()
	offset := 0
	switch {
	case !k.Before.IsZero():
		q = q.Where(keysetBeyond(k.Before, !desc))
	case !k.After.IsZero():
		q = q.Where(keysetBeyond(k.After, desc))
	case !k.Last:
		offset = min(p.Offset(), paging.MaxOffset/p.PerPage*p.PerPage)
	}
	if withCount {
		q = q.Where(predicate.ApprovalTicket(func(sel *entsql.Selector) {
			// The same conditions in a subquery over the same table name (which shadows
			// the outer one), stopped at CountCap+1 rows; PostgreSQL runs it once.
			sub := entsql.Dialect(dialect.Postgres).SelectExpr(entsql.Raw("1")).From(entsql.Table(approvalticket.Table))
			for _, w := range where {
				w(sub)
			}
			sub.Limit(paging.CountCap + 1)
			count := entsql.Dialect(dialect.Postgres).SelectExpr(entsql.Raw("count(*)")).From(sub.As("counted"))
			sel.AppendSelectExprAs(count, countedAs)
		}))
	}
	if desc != reverse {
		q = q.Order(ent.Desc(approvalticket.FieldCreatedAt), ent.Desc(approvalticket.FieldID))
	} else {
		q = q.Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID))
	}
	rows, err := q.Offset(offset).Limit(p.PerPage + 1).All(ctx)
	if err != nil {
		return nil, paging.Window{}, err
	}
	w := paging.Window{Page: p}
	if len(rows) > 0 && withCount {
		if v, err := rows[0].Value(countedAs); err == nil {
			if n, ok := v.(int64); ok {
				w.Total = int(n)
			}
		}
	}
	if w.Total > paging.CountCap {
		w.Total, w.Capped = paging.CountCap, true
	}
	more := len(rows) > p.PerPage
	if more {
		rows = rows[:p.PerPage] // the look-ahead row is the farthest from the start
	}
	if reverse {
		slices.Reverse(rows)
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
	if len(rows) > 0 {
		first, last := rows[0], rows[len(rows)-1]
		w.First = paging.Cursor{At: first.CreatedAt, ID: first.ID}
		w.Last = paging.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	return rows, w, nil
}

// keysetBeyond selects the rows past c in the direction of the order: older than c when
// older is set (a newest-first list read forwards), newer otherwise.
func keysetBeyond(c paging.Cursor, older bool) predicate.ApprovalTicket {
	op := " > ("
	if older {
		op = " < ("
	}
	return func(sel *entsql.Selector) {
		sel.Where(entsql.P(func(b *entsql.Builder) {
			b.WriteString("(" + sel.C(approvalticket.FieldCreatedAt) + ", " + sel.C(approvalticket.FieldID) + ")" + op).
				Arg(c.At).Comma().Arg(c.ID).WriteString(")")
		}))
	}
}
