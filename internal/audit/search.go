package audit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/predicate"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/paging"
)

// The export's largest page (spec/flows.md §6.3); the viewer pages like every list
// (paging.DefaultPerPage, at most paging.MaxPerPage).
const (
	MaxExportPerPage = 1000
	// CountCap bounds the COUNT behind the pager: counting a year of audit rows on every
	// page view would cost more than the page; beyond it the viewer says "more than".
	CountCap = 10000
)

// Filter selects audit rows. Empty fields do not filter. Each set field is served by an
// index where one exists: action (action, created_at); actor via the user's id
// (actor_id, created_at); resource type and id (resource_type, resource_id,
// created_at); the time range (created_at). Environment has no index of its own.
type Filter struct {
	// Action is an exact action code, or a prefix when it ends in "." or "*" or "%"
	// ("user." or "approval.*" or "approval.%").
	Action       string
	Actor        string     // username; matched by the user's id when such a user exists
	ActorID      *uuid.UUID // exact actor id (export API); wins over Actor
	ResourceType string
	ResourceID   string
	Environment  string
	From, To     time.Time   // From inclusive, To exclusive; zero means open
	Page         paging.Page // at most MaxExportPerPage rows; past the end is the last page
}

// ActionPrefix returns the prefix when Action asks for one.
func (f Filter) ActionPrefix() (string, bool) {
	a := f.Action
	if a == "" {
		return "", false
	}
	if t := strings.TrimRight(a, "*%"); t != a {
		return t, true
	}
	if strings.HasSuffix(a, ".") {
		return a, true
	}
	return "", false
}

// Result is one page of audit rows, newest first.
type Result struct {
	Rows   []*ent.AuditLog
	Total  int         // matching rows, at most CountCap
	Capped bool        // more than CountCap rows match
	Page   paging.Page // the page shown (the last one when f asked for a page past the end)
	// ActorByName is set when Actor names no user, so rows were matched by the recorded
	// actor name (sign-in attempts for unknown accounts, deleted users).
	ActorByName bool
}

// Search returns one page of rows matching f.
func Search(ctx context.Context, client *ent.Client, f Filter) (Result, error) {
	res := Result{Page: f.Page.Normalize(paging.DefaultPerPage, MaxExportPerPage)}
	pred, empty, err := f.predicate(ctx, client, &res)
	if err != nil || empty {
		return res, err
	}
	if res.Total, res.Capped, err = cappedCount(ctx, client, pred); err != nil {
		return res, err
	}
	res.Page = res.Page.Within(res.Total)
	res.Rows, err = client.AuditLog.Query().Where(predicate.AuditLog(pred)).
		Order(ent.Desc(auditlog.FieldCreatedAt), ent.Desc(auditlog.FieldID)).
		Offset(res.Page.Offset()).Limit(res.Page.Limit()).
		All(ctx)
	return res, err
}

// predicate builds the WHERE clause once for both the count and the page. empty reports
// a filter that cannot match anything (an action prefix no recorded action has).
func (f Filter) predicate(ctx context.Context, client *ent.Client, res *Result) (func(*entsql.Selector), bool, error) {
	var preds []func(s *entsql.Selector) *entsql.Predicate
	add := func(p func(s *entsql.Selector) *entsql.Predicate) { preds = append(preds, p) }

	if prefix, ok := f.ActionPrefix(); ok {
		// LIKE 'x%' only uses a btree index under the C collation. Expanding the prefix
		// into the few distinct actions keeps the (action, created_at) index usable with
		// any collation.
		all, err := DistinctActions(ctx, client)
		if err != nil {
			return nil, false, err
		}
		var match []any
		for _, a := range all {
			if strings.HasPrefix(a, prefix) {
				match = append(match, a)
			}
		}
		if len(match) == 0 {
			return nil, true, nil
		}
		add(func(s *entsql.Selector) *entsql.Predicate { return entsql.In(s.C(auditlog.FieldAction), match...) })
	} else if f.Action != "" {
		add(func(s *entsql.Selector) *entsql.Predicate { return entsql.EQ(s.C(auditlog.FieldAction), f.Action) })
	}

	switch {
	case f.ActorID != nil:
		id := *f.ActorID
		add(func(s *entsql.Selector) *entsql.Predicate { return entsql.EQ(s.C(auditlog.FieldActorID), id) })
	case f.Actor != "":
		u, err := client.User.Query().Where(user.Username(f.Actor)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			res.ActorByName = true
			add(func(s *entsql.Selector) *entsql.Predicate { return entsql.EQ(s.C(auditlog.FieldActorName), f.Actor) })
		case err != nil:
			return nil, false, err
		default:
			add(func(s *entsql.Selector) *entsql.Predicate { return entsql.EQ(s.C(auditlog.FieldActorID), u.ID) })
		}
	}

	for _, kv := range [][2]string{
		{auditlog.FieldResourceType, f.ResourceType},
		{auditlog.FieldResourceID, f.ResourceID},
		{auditlog.FieldEnvironment, f.Environment},
	} {
		if col, v := kv[0], kv[1]; v != "" {
			add(func(s *entsql.Selector) *entsql.Predicate { return entsql.EQ(s.C(col), v) })
		}
	}
	if !f.From.IsZero() {
		add(func(s *entsql.Selector) *entsql.Predicate { return entsql.GTE(s.C(auditlog.FieldCreatedAt), f.From) })
	}
	if !f.To.IsZero() {
		add(func(s *entsql.Selector) *entsql.Predicate { return entsql.LT(s.C(auditlog.FieldCreatedAt), f.To) })
	}
	return func(s *entsql.Selector) {
		for _, p := range preds {
			s.Where(p(s))
		}
	}, false, nil
}

// cappedCount counts matching rows up to CountCap+1, so the cost stays bounded however
// much history there is.
func cappedCount(ctx context.Context, client *ent.Client, pred func(*entsql.Selector)) (int, bool, error) {
	b := entsql.Dialect(dialect.Postgres)
	inner := b.Select(auditlog.FieldCreatedAt).From(entsql.Table(auditlog.Table))
	pred(inner)
	inner.Limit(CountCap + 1)
	query, args := b.Select(entsql.Count("*")).From(inner.As("capped")).Query()
	n, err := db.Count(ctx, client, query, args...)
	if err != nil {
		return 0, false, err
	}
	if n > CountCap {
		return CountCap, true, nil
	}
	return n, false, nil
}

// DistinctActions lists the action codes present in the log, sorted. It walks the
// (action, created_at) index one value at a time (a loose index scan), so the cost grows
// with the number of distinct actions, not with the number of rows.
func DistinctActions(ctx context.Context, client *ent.Client) ([]string, error) {
	return distinct(ctx, client, auditlog.FieldAction)
}

// DistinctResourceTypes lists the resource types present in the log, sorted, walking
// the (resource_type, resource_id, created_at) index the same way.
func DistinctResourceTypes(ctx context.Context, client *ent.Client) ([]string, error) {
	return distinct(ctx, client, auditlog.FieldResourceType)
}

// distinctLimit stops a runaway walk should some column ever hold free text.
const distinctLimit = 500

func distinct(ctx context.Context, client *ent.Client, column string) ([]string, error) {
	if column != auditlog.FieldAction && column != auditlog.FieldResourceType {
		return nil, errors.New("audit: no index for distinct " + column)
	}
	query := `WITH RECURSIVE v(val) AS (
	  (SELECT ` + column + ` FROM audit_logs ORDER BY ` + column + ` LIMIT 1)
	  UNION ALL
	  SELECT (SELECT ` + column + ` FROM audit_logs WHERE ` + column + ` > v.val ORDER BY ` + column + ` LIMIT 1)
	  FROM v WHERE v.val IS NOT NULL
	) SELECT val FROM v WHERE val IS NOT NULL AND val <> '' LIMIT ` + strconv.Itoa(distinctLimit)
	rows, err := client.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
