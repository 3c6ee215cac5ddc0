package audit_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func oldRow(t *testing.T, ctx context.Context, c *ent.Client, action, env string, age time.Duration, now time.Time) *ent.AuditLog {
	t.Helper()
	return c.AuditLog.Create().SetAction(action).SetEnvironment(env).SetActorName("alice").SetResourceType("vm").
		SetResourceID("r-" + action).SetCreatedAt(now.Add(-age)).SaveX(ctx)
}

func TestRetentionArchivesEachClassAfterItsPeriodWithAnAuditRecord(t *testing.T) {
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	c := store.Ent
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	due := []*ent.AuditLog{
		oldRow(t, ctx, c, "vm.start", "test", 91*day, now),
		oldRow(t, ctx, c, "vm.start", "prod", 366*day, now),
		oldRow(t, ctx, c, "user.login", "", 400*day, now),
		oldRow(t, ctx, c, "vm.delete", "test", 1100*day, now),
		oldRow(t, ctx, c, "approval.approve", "prod", 1096*day, now),
	}
	kept := []*ent.AuditLog{
		oldRow(t, ctx, c, "vm.start", "test", 89*day, now),
		oldRow(t, ctx, c, "vm.start", "prod", 200*day, now),          // prod keeps a year
		oldRow(t, ctx, c, "user.login", "", 300*day, now),            // platform rows too
		oldRow(t, ctx, c, "vm.delete", "test", 400*day, now),         // deletions keep three years
		oldRow(t, ctx, c, "approval.reject", "test", 1000*day, now),  // decisions too
		oldRow(t, ctx, c, "vm.delete_request", "prod", 900*day, now), // and delete requests
	}
	// A short chunk makes the run take several archives, each in its own transaction.
	a := &audit.Archiver{Store: store, Retention: audit.SpecRetention, Chunk: 2, Now: func() time.Time { return now }}
	res, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != len(due) || res.Archives != 3 {
		t.Fatalf("run: %+v, want %d rows in 3 archives", res, len(due))
	}
	for _, r := range kept {
		if _, err := c.AuditLog.Get(ctx, r.ID); err != nil {
			t.Errorf("%s %s (%s old) was archived early: %v", r.Action, r.Environment, now.Sub(r.CreatedAt), err)
		}
	}
	// The archives hold exactly the due rows, oldest first, in the export's shape, and
	// their checksums match.
	archives := c.AuditArchive.Query().Order(ent.Asc("first_at")).AllX(ctx)
	var got []string
	for _, ar := range archives {
		sum := sha256.Sum256(ar.Content)
		if hex.EncodeToString(sum[:]) != ar.Sha256 || ar.SizeBytes != len(ar.Content) {
			t.Fatalf("archive %s: checksum or size wrong", ar.ID)
		}
		zr, err := gzip.NewReader(bytes.NewReader(ar.Content))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(zr)
		n := 0
		for sc.Scan() {
			var ev audit.ECSEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.ID)
			n++
		}
		if n != ar.RowCount {
			t.Fatalf("archive says %d rows, holds %d", ar.RowCount, n)
		}
	}
	want := []string{due[3].ID.String(), due[4].ID.String(), due[2].ID.String(), due[1].ID.String(), due[0].ID.String()}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("archived rows %v, want oldest first %v", got, want)
	}
	for _, r := range due {
		if _, err := c.AuditLog.Get(ctx, r.ID); !ent.IsNotFound(err) {
			t.Errorf("%s still in the log after archiving: %v", r.Action, err)
		}
	}
	moves := c.AuditLog.Query().Where(auditlog.Action("audit.archive")).AllX(ctx)
	if len(moves) != 3 {
		t.Fatalf("%d audit.archive records, want one per archive", len(moves))
	}
	if moves[0].Details["sha256"] == nil || moves[0].Details["rows"] == nil {
		t.Fatalf("archive record without checksum or count: %v", moves[0].Details)
	}
	// A second run finds nothing due.
	if res, err := a.Run(ctx); err != nil || res.Rows != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
}

func TestAuditLogAndArchivesRefuseChangesOutsideTheRetentionJob(t *testing.T) {
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	now := time.Now()
	r := oldRow(t, ctx, store.Ent, "vm.start", "test", 400*24*time.Hour, now)
	for _, stmt := range []string{
		`DELETE FROM audit_logs WHERE id = '` + r.ID.String() + `'`,
		`UPDATE audit_logs SET action = 'x' WHERE id = '` + r.ID.String() + `'`,
		`TRUNCATE audit_logs`,
	} {
		if _, err := store.SQL.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Not even with the archive marker, for an update.
	err := store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.SQL.ExecContext(ctx, `SELECT set_config('shepherd.audit_retention', 'archive', true)`); err != nil {
			return err
		}
		_, err := tx.SQL.ExecContext(ctx, `UPDATE audit_logs SET action = 'x'`)
		return err
	})
	if err == nil {
		t.Fatal("an update passed with the retention marker")
	}
	a := &audit.Archiver{Store: store, Retention: audit.SpecRetention}
	if _, err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ar := store.Ent.AuditArchive.Query().OnlyX(ctx)
	if _, err := store.SQL.ExecContext(ctx, `DELETE FROM audit_archives`); err == nil {
		t.Fatal("an archive was deleted outside the retention job")
	}
	if _, err := store.SQL.ExecContext(ctx, `UPDATE audit_archives SET row_count = 0`); err == nil {
		t.Fatal("an archive was changed")
	}
	// Expiry deletes archives older than the configured keep, with an audit record.
	later := &audit.Archiver{Store: store, Retention: audit.Retention{TestDays: 90, ProdDays: 365, SensitiveDays: 1095, ArchiveKeepDays: 30},
		Now: func() time.Time { return now.Add(31 * 24 * time.Hour) }}
	res, err := later.Run(ctx)
	if err != nil || res.ExpiredArchives != 1 {
		t.Fatalf("expiry: %+v %v", res, err)
	}
	if n := store.Ent.AuditArchive.Query().CountX(ctx); n != 0 {
		t.Fatalf("%d archives left", n)
	}
	rec := store.Ent.AuditLog.Query().Where(auditlog.Action("audit.archive_delete")).OnlyX(ctx)
	if rec.ResourceID != ar.ID.String() || rec.Details["sha256"] != ar.Sha256 {
		t.Fatalf("deletion record: %+v", rec)
	}
}
