package audit_test

import (
	"math"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func TestListForResourcePagesNewestFirst(t *testing.T) {
	t.Parallel()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	ctx := t.Context()
	c := store.Ent
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		c.AuditLog.Create().SetAction("system.update").SetResourceType("system").SetResourceID("s1").
			SetDetails(map[string]any{"n": i}).SetCreatedAt(base.Add(time.Duration(i) * time.Minute)).ExecX(ctx)
	}
	// Rows of other resources (same id, other type; other id) never show up.
	c.AuditLog.Create().SetAction("service.update").SetResourceType("service").SetResourceID("s1").ExecX(ctx)
	c.AuditLog.Create().SetAction("system.update").SetResourceType("system").SetResourceID("s2").ExecX(ctx)

	rows, total, err := audit.ListForResource(ctx, c, "system", "s1", paging.Page{Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 25 || len(rows) != paging.DefaultPerPage {
		t.Fatalf("total %d, rows %d", total, len(rows))
	}
	if rows[0].Details["n"] != float64(24) || rows[19].Details["n"] != float64(5) {
		t.Fatalf("order: first %v last %v", rows[0].Details, rows[19].Details)
	}
	rows, _, err = audit.ListForResource(ctx, c, "system", "s1", paging.Page{Number: 2, PerPage: 20})
	if err != nil || len(rows) != 5 || rows[4].Details["n"] != float64(0) {
		t.Fatalf("page 2: %d rows, %v", len(rows), err)
	}
	rows, _, _ = audit.ListForResource(ctx, c, "system", "s1", paging.Page{Number: 1, PerPage: 1000})
	if len(rows) != 25 {
		t.Fatalf("per_page above the maximum: %d rows", len(rows))
	}
	// A page past the end, however far, is the last page.
	for _, n := range []int{3, 99, math.MaxInt} {
		rows, _, err = audit.ListForResource(ctx, c, "system", "s1", paging.Page{Number: n, PerPage: 20})
		if err != nil || len(rows) != 5 || rows[4].Details["n"] != float64(0) {
			t.Fatalf("page %d past the end: %d rows, %v", n, len(rows), err)
		}
	}
}
