package audit

import (
	"context"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/predicate"
)

// StreamBatch is how many rows one step of Stream reads.
const StreamBatch = 1000

// Stream hands every row matching f to fn, newest first, a batch at a time. It pages by
// keyset — (created_at, id) below the last row of the previous batch, served by the
// created_at index — so memory stays one batch however many rows match, and no
// transaction stays open between batches (a slow reader holds nothing in PostgreSQL).
// f.Page is ignored. It returns the number of rows handed over.
func Stream(ctx context.Context, client *ent.Client, f Filter, fn func([]*ent.AuditLog) error) (int, error) {
	var res Result
	pred, empty, err := f.predicate(ctx, client, &res)
	if err != nil || empty {
		return 0, err
	}
	var (
		n      int
		lastAt time.Time
		lastID uuid.UUID
	)
	for {
		q := client.AuditLog.Query().Where(predicate.AuditLog(pred))
		if n > 0 {
			at, id := lastAt, lastID
			// created_at <= at is what an index can start from (the OR alone would make
			// every batch scan from the newest row again); the OR settles ties by id.
			q = q.Where(func(s *entsql.Selector) {
				s.Where(entsql.And(
					entsql.LTE(s.C(auditlog.FieldCreatedAt), at),
					entsql.Or(entsql.LT(s.C(auditlog.FieldCreatedAt), at), entsql.LT(s.C(auditlog.FieldID), id)),
				))
			})
		}
		rows, err := q.Order(ent.Desc(auditlog.FieldCreatedAt), ent.Desc(auditlog.FieldID)).Limit(StreamBatch).All(ctx)
		if err != nil {
			return n, err
		}
		if len(rows) == 0 {
			return n, nil
		}
		if err := fn(rows); err != nil {
			return n, err
		}
		n += len(rows)
		last := rows[len(rows)-1]
		lastAt, lastID = last.CreatedAt, last.ID
		if len(rows) < StreamBatch {
			return n, nil
		}
	}
}
