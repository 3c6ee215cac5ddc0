package audit_test

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/testdb"
)

var searchT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type searchFixture struct {
	store             *db.Store
	alice, bob, carol uuid.UUID
}

// newSearchFixture writes six rows an hour or days apart, by three users and one
// stranger whose sign-in failed.
func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	ctx := t.Context()
	f := &searchFixture{store: store}
	for _, u := range []struct {
		name string
		id   *uuid.UUID
	}{{"alice", &f.alice}, {"bob", &f.bob}, {"carol", &f.carol}} {
		*u.id = store.Ent.User.Create().SetUsername(u.name).SaveX(ctx).ID
	}
	rows := []struct {
		action   string
		actor    *uuid.UUID
		name     string
		rtype    string
		rid, env string
		at       time.Duration
	}{
		{"user.login", &f.alice, "alice", "user", "", "", 0},
		{"user.logout", &f.alice, "alice", "user", "", "", time.Hour},
		{"user.login_failed", nil, "mallory", "user", "", "", 2 * time.Hour},
		{"approval.approve", &f.bob, "bob", "ticket", "T1", "prod", 24 * time.Hour},
		{"approval.reject", &f.bob, "bob", "ticket", "T2", "test", 48 * time.Hour},
		{"vm.create", &f.carol, "carol", "vm", "V1", "prod", 72 * time.Hour},
	}
	for _, r := range rows {
		store.Ent.AuditLog.Create().SetAction(r.action).SetNillableActorID(r.actor).SetActorName(r.name).
			SetResourceType(r.rtype).SetResourceID(r.rid).SetEnvironment(r.env).SetCreatedAt(searchT0.Add(r.at)).
			SetDetails(map[string]any{"n": r.action}).ExecX(ctx)
	}
	return f
}

func searchActions(rows []*ent.AuditLog) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Action)
	}
	return out
}

func TestSearchFiltersNarrowResults(t *testing.T) {
	f := newSearchFixture(t)
	ctx := t.Context()
	cases := []struct {
		name   string
		filter audit.Filter
		want   []string // newest first
	}{
		{"everything", audit.Filter{}, []string{"vm.create", "approval.reject", "approval.approve", "user.login_failed", "user.logout", "user.login"}},
		{"prefix with dot", audit.Filter{Action: "user."}, []string{"user.login_failed", "user.logout", "user.login"}},
		{"prefix with star", audit.Filter{Action: "approval.*"}, []string{"approval.reject", "approval.approve"}},
		{"prefix with percent", audit.Filter{Action: "approval.%"}, []string{"approval.reject", "approval.approve"}},
		{"exact action", audit.Filter{Action: "user.login"}, []string{"user.login"}},
		{"unknown prefix", audit.Filter{Action: "nothing."}, nil},
		{"actor by username", audit.Filter{Actor: "alice"}, []string{"user.logout", "user.login"}},
		{"actor without account", audit.Filter{Actor: "mallory"}, []string{"user.login_failed"}},
		{"actor id wins", audit.Filter{Actor: "alice", ActorID: &f.bob}, []string{"approval.reject", "approval.approve"}},
		{"resource type", audit.Filter{ResourceType: "ticket"}, []string{"approval.reject", "approval.approve"}},
		{"resource history", audit.Filter{ResourceType: "ticket", ResourceID: "T1"}, []string{"approval.approve"}},
		{"environment", audit.Filter{Environment: "prod"}, []string{"vm.create", "approval.approve"}},
		{"time range, end exclusive", audit.Filter{From: searchT0.Add(24 * time.Hour), To: searchT0.Add(72 * time.Hour)},
			[]string{"approval.reject", "approval.approve"}},
		{"from only", audit.Filter{From: searchT0.Add(48 * time.Hour)}, []string{"vm.create", "approval.reject"}},
		{"combined", audit.Filter{Action: "approval.", Environment: "test"}, []string{"approval.reject"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.filter.Page = paging.Page{PerPage: 20}
			res, err := audit.Search(ctx, f.store.Ent, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(searchActions(res.Rows), tc.want) || res.Total != len(tc.want) || res.Capped {
				t.Fatalf("got %v (total %d, capped %v), want %v", searchActions(res.Rows), res.Total, res.Capped, tc.want)
			}
		})
	}
	res, _ := audit.Search(ctx, f.store.Ent, audit.Filter{Actor: "mallory", Page: paging.Page{PerPage: 20}})
	if !res.ActorByName {
		t.Error("ActorByName not reported for a name without account")
	}
}

func TestSearchPagesNewestFirst(t *testing.T) {
	f := newSearchFixture(t)
	ctx := t.Context()
	res, err := audit.Search(ctx, f.store.Ent, audit.Filter{Page: paging.Page{Number: 2, PerPage: 4}})
	if err != nil || !slices.Equal(searchActions(res.Rows), []string{"user.logout", "user.login"}) || res.Total != 6 || res.Page.Number != 2 {
		t.Fatalf("page 2: %v total=%d page=%d err=%v", searchActions(res.Rows), res.Total, res.Page.Number, err)
	}
	for _, n := range []int{50, math.MaxInt} {
		res, err = audit.Search(ctx, f.store.Ent, audit.Filter{Page: paging.Page{Number: n, PerPage: 4}})
		if err != nil || res.Page.Number != 2 || len(res.Rows) != 2 {
			t.Fatalf("page %d past the end: page=%d rows=%d err=%v", n, res.Page.Number, len(res.Rows), err)
		}
	}
	// Page sizes out of range are clamped: the default below 1, the export's maximum above it.
	for bad, want := range map[int]int{0: paging.DefaultPerPage, -1: paging.DefaultPerPage, math.MinInt: paging.DefaultPerPage,
		audit.MaxExportPerPage + 1: audit.MaxExportPerPage, math.MaxInt: audit.MaxExportPerPage} {
		res, err := audit.Search(ctx, f.store.Ent, audit.Filter{Page: paging.Page{PerPage: bad}})
		if err != nil || res.Page.PerPage != want || len(res.Rows) != 6 {
			t.Errorf("per page %d: %+v, %d rows, %v", bad, res.Page, len(res.Rows), err)
		}
	}
}

func TestSearchCountIsCapped(t *testing.T) {
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	ctx := t.Context()
	_, err := store.SQL.ExecContext(ctx, `INSERT INTO audit_logs (id, action, created_at)
		SELECT gen_random_uuid(), 'bulk.write', now() - make_interval(secs => g) FROM generate_series(1, $1) g`, audit.CountCap+5)
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Search(ctx, store.Ent, audit.Filter{Action: "bulk.write", Page: paging.Page{PerPage: 20}})
	if err != nil || res.Total != audit.CountCap || !res.Capped || len(res.Rows) != 20 {
		t.Fatalf("total=%d capped=%v rows=%d err=%v", res.Total, res.Capped, len(res.Rows), err)
	}
}

func TestDistinctActionsAndResourceTypes(t *testing.T) {
	f := newSearchFixture(t)
	got, err := audit.DistinctActions(t.Context(), f.store.Ent)
	want := []string{"approval.approve", "approval.reject", "user.login", "user.login_failed", "user.logout", "vm.create"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("actions = %v, %v", got, err)
	}
	types, err := audit.DistinctResourceTypes(t.Context(), f.store.Ent)
	if err != nil || !slices.Equal(types, []string{"ticket", "user", "vm"}) {
		t.Fatalf("types = %v, %v", types, err)
	}
}

func TestActionPrefix(t *testing.T) {
	cases := map[string]string{"user.": "user.", "approval.*": "approval.", "approval.%": "approval.", "vm*": "vm"}
	for in, want := range cases {
		if got, ok := (audit.Filter{Action: in}).ActionPrefix(); !ok || got != want {
			t.Errorf("ActionPrefix(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, exact := range []string{"", "user.login", "vm.create"} {
		if _, ok := (audit.Filter{Action: exact}).ActionPrefix(); ok {
			t.Errorf("%q taken as a prefix", exact)
		}
	}
}

// recorder keeps the statements Ent and the raw queries send, to explain them afterwards.
type recorder struct {
	*entsql.Driver
	mu   sync.Mutex
	seen []recorded
}

type recorded struct {
	query string
	args  []any
}

func (r *recorder) Query(ctx context.Context, query string, args, v any) error {
	a, _ := args.([]any)
	r.record(query, a)
	return r.Driver.Query(ctx, query, args, v)
}

func (r *recorder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r.record(query, args)
	return r.Driver.QueryContext(ctx, query, args...)
}

func (r *recorder) record(q string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, recorded{q, args})
}

// TestSearchUsesTheIndexes explains the count query of each filter with sequential scans
// disabled: the plan must name the index meant for that filter.
func TestSearchUsesTheIndexes(t *testing.T) {
	f := newSearchFixture(t)
	ctx := t.Context()
	if _, err := f.store.SQL.ExecContext(ctx, `ANALYZE audit_logs`); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter audit.Filter
		index  string
	}{
		{audit.Filter{Action: "approval.reject"}, "auditlog_action_created_at"},
		{audit.Filter{Action: "user."}, "auditlog_action_created_at"},
		{audit.Filter{Actor: "alice"}, "auditlog_actor_id_created_at"},
		{audit.Filter{ResourceType: "ticket", ResourceID: "T1"}, "auditlog_resource_type_resource_id_created_at"},
		{audit.Filter{ResourceType: "vm"}, "auditlog_resource_type_resource_id_created_at"},
		{audit.Filter{From: searchT0, To: searchT0.Add(time.Hour)}, "auditlog_created_at"},
	}
	for _, tc := range cases {
		rec := &recorder{Driver: entsql.OpenDB(dialect.Postgres, f.store.SQL)}
		tc.filter.Page = paging.Page{PerPage: 20}
		if _, err := audit.Search(ctx, ent.NewClient(ent.Driver(rec)), tc.filter); err != nil {
			t.Fatal(err)
		}
		var count *recorded
		for i := range rec.seen {
			if strings.Contains(rec.seen[i].query, "COUNT(*)") {
				count = &rec.seen[i]
			}
		}
		if count == nil {
			t.Fatalf("%+v: no count query among %d", tc.filter, len(rec.seen))
		}
		plan := explain(t, f.store, count.query, count.args)
		if !strings.Contains(plan, tc.index) {
			t.Errorf("%+v: plan does not use %s:\n%s", tc.filter, tc.index, plan)
		}
	}
}

func explain(t *testing.T, store *db.Store, query string, args []any) string {
	t.Helper()
	var lines []string
	err := store.InTx(t.Context(), func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.SQL.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.SQL.QueryContext(ctx, "EXPLAIN "+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return err
			}
			lines = append(lines, l)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
