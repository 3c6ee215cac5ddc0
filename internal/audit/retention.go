package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditarchive"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/db"
)

// Retention (spec domain §11.4): audit rows stay in the audit log for their class's
// period — test 90 days, prod and platform one year, sensitive actions (deletions,
// approval decisions, role changes) three years — and then move into archives:
// gzip-compressed JSON Lines in the export's event shape, stored in audit_archives with
// a SHA-256 of the content. Each chunk moves in one transaction that stores the archive,
// deletes exactly the archived rows and writes an audit.archive row saying so; a crash
// at any moment leaves either all of that or none of it. The database refuses deletes
// from audit_logs to every other transaction (migration 0021).

// Retention classes.
const (
	ClassTest      = "test"
	ClassProd      = "prod"
	ClassPlatform  = "platform" // rows without an environment: sign-ins, settings, catalogues
	ClassSensitive = "sensitive"
)

// Retention is the policy in days.
type Retention struct {
	TestDays, ProdDays, SensitiveDays int
	// ArchiveKeepDays deletes archives this long after they were made (audited); 0 keeps
	// them for good.
	ArchiveKeepDays int
}

// SpecRetention are the spec's minimum periods.
var SpecRetention = Retention{TestDays: 90, ProdDays: 365, SensitiveDays: 1095}

// ArchiveChunk is the most rows one archive (and one transaction) holds.
const ArchiveChunk = 10_000

// Class is the retention class of an action in an environment.
func Class(action, environment string) string {
	switch {
	case isSensitive(action):
		return ClassSensitive
	case environment == "test":
		return ClassTest
	case environment == "prod":
		return ClassProd
	}
	return ClassPlatform
}

var (
	sensitivePrefixes = []string{"approval.", "autoapproval.", "rbac.", "role.", "permission."}
	sensitiveSuffixes = []string{".delete", ".delete_request"}
)

func isSensitive(action string) bool {
	for _, p := range sensitivePrefixes {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	for _, x := range sensitiveSuffixes {
		if strings.HasSuffix(action, x) {
			return true
		}
	}
	return false
}

// Archiver moves rows past their retention into archives and expires old archives.
type Archiver struct {
	Store     *db.Store
	Retention Retention
	// Chunk overrides ArchiveChunk (tests).
	Chunk int
	// MaxChunks bounds one run (0: 100 chunks, a million rows); the next run continues.
	MaxChunks int
	Now       func() time.Time
}

// RunResult is what one run did.
type RunResult struct {
	Archives, Rows  int
	ExpiredArchives int
}

func (a *Archiver) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// cutoffs: a row of a class is due when created before its class's cutoff.
func (a *Archiver) cutoffs(now time.Time) map[string]time.Time {
	r := a.Retention
	day := 24 * time.Hour
	return map[string]time.Time{
		ClassTest:      now.Add(-time.Duration(max(r.TestDays, SpecRetention.TestDays)) * day),
		ClassProd:      now.Add(-time.Duration(max(r.ProdDays, SpecRetention.ProdDays)) * day),
		ClassPlatform:  now.Add(-time.Duration(max(r.ProdDays, SpecRetention.ProdDays)) * day),
		ClassSensitive: now.Add(-time.Duration(max(r.SensitiveDays, SpecRetention.SensitiveDays)) * day),
	}
}

// Run archives every due row, a chunk per transaction, then deletes expired archives.
func (a *Archiver) Run(ctx context.Context) (RunResult, error) {
	var res RunResult
	now := a.now()
	chunk, most := a.Chunk, a.MaxChunks
	if chunk <= 0 {
		chunk = ArchiveChunk
	}
	if most <= 0 {
		most = 100
	}
	for range most {
		n, err := a.archiveChunk(ctx, now, chunk)
		if err != nil {
			return res, err
		}
		if n == 0 {
			break
		}
		res.Archives++
		res.Rows += n
		if n < chunk {
			break
		}
	}
	expired, err := a.expire(ctx, now)
	res.ExpiredArchives = expired
	return res, err
}

// archiveChunk moves the oldest due rows (at most chunk) into one archive.
func (a *Archiver) archiveChunk(ctx context.Context, now time.Time, chunk int) (int, error) {
	cut := a.cutoffs(now)
	newest := cut[ClassTest]
	for _, t := range cut {
		if t.After(newest) {
			newest = t
		}
	}
	moved := 0
	err := a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		rows, err := tx.Ent.AuditLog.Query().
			Where(auditlog.CreatedAtLT(newest), func(s *entsql.Selector) { s.Where(dueP(s, cut)) }).
			Order(ent.Asc(auditlog.FieldCreatedAt), ent.Asc(auditlog.FieldID)).
			Limit(chunk).
			All(ctx)
		if err != nil || len(rows) == 0 {
			return err
		}
		var raw bytes.Buffer
		zw := gzip.NewWriter(&raw)
		enc := json.NewEncoder(zw)
		ids := make([]uuid.UUID, 0, len(rows))
		classes := map[string]int{}
		for _, r := range rows {
			if err := enc.Encode(ECS(r)); err != nil {
				return err
			}
			ids = append(ids, r.ID)
			classes[Class(r.Action, r.Environment)]++
		}
		if err := zw.Close(); err != nil {
			return err
		}
		sum := sha256.Sum256(raw.Bytes())
		first, last := rows[0].CreatedAt, rows[len(rows)-1].CreatedAt
		ar, err := tx.Ent.AuditArchive.Create().
			SetCreatedAt(now).
			SetFirstAt(first).
			SetLastAt(last).
			SetRowCount(len(rows)).
			SetClasses(classes).
			SetSha256(hex.EncodeToString(sum[:])).
			SetSizeBytes(raw.Len()).
			SetContent(raw.Bytes()).
			Save(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.SQL.ExecContext(ctx, `SELECT set_config('shepherd.audit_retention', 'archive', true)`); err != nil {
			return err
		}
		deleted, err := tx.Ent.AuditLog.Delete().Where(auditlog.IDIn(ids...)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("archive audit rows: %w", err)
		}
		if deleted != len(rows) {
			return fmt.Errorf("archive audit rows: deleted %d of %d", deleted, len(rows))
		}
		if _, err := tx.SQL.ExecContext(ctx, `SELECT set_config('shepherd.audit_retention', '', true)`); err != nil {
			return err
		}
		moved = len(rows)
		return Write(ctx, tx.Ent, Entry{
			Action:       "audit.archive",
			ActorName:    "retention",
			ResourceType: "audit_archive",
			ResourceID:   ar.ID.String(),
			ResourceName: archiveName(ar.FirstAt, ar.LastAt),
			Details: map[string]any{
				"rows":     len(rows),
				"first_at": first.UTC().Format(time.RFC3339Nano),
				"last_at":  last.UTC().Format(time.RFC3339Nano),
				"classes":  classes,
				"sha256":   ar.Sha256,
				"bytes":    raw.Len(),
				"retention_days": map[string]int{
					ClassTest:      max(a.Retention.TestDays, SpecRetention.TestDays),
					ClassProd:      max(a.Retention.ProdDays, SpecRetention.ProdDays),
					ClassSensitive: max(a.Retention.SensitiveDays, SpecRetention.SensitiveDays),
				},
			},
		})
	})
	return moved, err
}

// dueP is the condition "older than its class's cutoff". Sensitive actions are those
// isSensitive names: deletions, approval decisions (by people and policies), and
// changes of roles and permissions.
func dueP(s *entsql.Selector, cut map[string]time.Time) *entsql.Predicate {
	at, env, act := s.C(auditlog.FieldCreatedAt), s.C(auditlog.FieldEnvironment), s.C(auditlog.FieldAction)
	var ors []*entsql.Predicate
	for _, p := range sensitivePrefixes {
		ors = append(ors, entsql.HasPrefix(act, p))
	}
	for _, x := range sensitiveSuffixes {
		ors = append(ors, entsql.HasSuffix(act, x))
	}
	sensitive := entsql.Or(ors...)
	return entsql.Or(
		entsql.And(sensitive, entsql.LT(at, cut[ClassSensitive])),
		entsql.And(entsql.Not(sensitive), entsql.EQ(env, "test"), entsql.LT(at, cut[ClassTest])),
		entsql.And(entsql.Not(sensitive), entsql.EQ(env, "prod"), entsql.LT(at, cut[ClassProd])),
		entsql.And(entsql.Not(sensitive), entsql.NotIn(env, "test", "prod"), entsql.LT(at, cut[ClassPlatform])),
	)
}

// expire deletes archives older than ArchiveKeepDays, auditing each.
func (a *Archiver) expire(ctx context.Context, now time.Time) (int, error) {
	if a.Retention.ArchiveKeepDays <= 0 {
		return 0, nil
	}
	before := now.Add(-time.Duration(a.Retention.ArchiveKeepDays) * 24 * time.Hour)
	n := 0
	err := a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.AuditArchive.Query().Where(auditarchive.CreatedAtLT(before)).
			Select(auditarchive.FieldID, auditarchive.FieldCreatedAt, auditarchive.FieldFirstAt, auditarchive.FieldLastAt,
				auditarchive.FieldRowCount, auditarchive.FieldSha256).
			Order(ent.Asc(auditarchive.FieldCreatedAt)).Limit(1000).All(ctx)
		if err != nil || len(old) == 0 {
			return err
		}
		if _, err := tx.SQL.ExecContext(ctx, `SELECT set_config('shepherd.audit_retention', 'expire', true)`); err != nil {
			return err
		}
		for _, ar := range old {
			if err := tx.Ent.AuditArchive.DeleteOneID(ar.ID).Exec(ctx); err != nil {
				return err
			}
			err := Write(ctx, tx.Ent, Entry{
				Action:       "audit.archive_delete",
				ActorName:    "retention",
				ResourceType: "audit_archive",
				ResourceID:   ar.ID.String(),
				ResourceName: archiveName(ar.FirstAt, ar.LastAt),
				Details: map[string]any{"rows": ar.RowCount, "sha256": ar.Sha256, "archived_at": ar.CreatedAt.UTC().Format(time.RFC3339),
					"keep_days": a.Retention.ArchiveKeepDays},
			})
			if err != nil {
				return err
			}
		}
		n = len(old)
		_, err = tx.SQL.ExecContext(ctx, `SELECT set_config('shepherd.audit_retention', '', true)`)
		return err
	})
	return n, err
}

// archiveName is an archive's download name: the span of its rows.
func archiveName(first, last time.Time) string {
	return "audit-" + first.UTC().Format("20060102T150405Z") + "-" + last.UTC().Format("20060102T150405Z") + ".jsonl.gz"
}

// ArchiveName is the file name an archive downloads as.
func ArchiveName(ar *ent.AuditArchive) string { return archiveName(ar.FirstAt, ar.LastAt) }

// ArchiveInfo is an archive as listed (without its content).
type ArchiveInfo struct {
	ID              uuid.UUID
	CreatedAt       time.Time
	FirstAt, LastAt time.Time
	Rows            int
	Classes         map[string]int
	SHA256          string
	SizeBytes       int
	Name            string
}

// Archives lists archives newest first, a page at a time, with the total.
func Archives(ctx context.Context, c *ent.Client, offset, limit int) ([]ArchiveInfo, int, error) {
	total, err := c.AuditArchive.Query().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.AuditArchive.Query().
		Select(auditarchive.FieldID, auditarchive.FieldCreatedAt, auditarchive.FieldFirstAt, auditarchive.FieldLastAt,
			auditarchive.FieldRowCount, auditarchive.FieldClasses, auditarchive.FieldSha256, auditarchive.FieldSizeBytes).
		Order(ent.Desc(auditarchive.FieldFirstAt), ent.Desc(auditarchive.FieldID)).
		Offset(offset).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := make([]ArchiveInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, ArchiveInfo{ID: r.ID, CreatedAt: r.CreatedAt, FirstAt: r.FirstAt, LastAt: r.LastAt, Rows: r.RowCount,
			Classes: r.Classes, SHA256: r.Sha256, SizeBytes: r.SizeBytes, Name: ArchiveName(r)})
	}
	return out, total, nil
}
