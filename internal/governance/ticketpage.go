package governance

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ticketColumns are what a list row of tickets shows (the inbox, My requests): a narrow
// read, not the ticket's 40 columns with their JSON snapshots.
const ticketColumns = `t.id, t.type, t.status, t.target_name, t.namespace_name, t.environment, t.requester_id,
	t.requester_name, t.created_at, t.updated_at, t.decided_at,
	CASE WHEN t.type = 'VNC_ACCESS' THEN t.request_params END, t.batch_id`

// ticketPage lists one page of tickets matching l's conditions, with the capped count, in
// one statement (see listing). The rows are Ent tickets with the listed fields set.
func (s *Service) ticketPage(ctx context.Context, l *listing, p paging.Page, k paging.Keyset) ([]*ent.ApprovalTicket, paging.Window, error) {
	var out []*ent.ApprovalTicket
	w, err := l.run(ctx, s.Store.SQL, p, k, pageQuery{
		cols:      ticketColumns,
		withCount: true,
		scan: func(rows *sql.Rows, total *int) (paging.Cursor, error) {
			var (
				t       ent.ApprovalTicket
				typ     string
				status  string
				env     string
				decided sql.NullTime
				params  []byte
				batch   uuid.NullUUID
			)
			err := rows.Scan(&t.ID, &typ, &status, &t.TargetName, &t.NamespaceName, &env, &t.RequesterID,
				&t.RequesterName, &t.CreatedAt, &t.UpdatedAt, &decided, &params, &batch, total)
			if err != nil {
				return paging.Cursor{}, err
			}
			t.Type, t.Status, t.Environment = approvalticket.Type(typ), approvalticket.Status(status), approvalticket.Environment(env)
			if decided.Valid {
				at := decided.Time
				t.DecidedAt = &at
			}
			if batch.Valid {
				id := batch.UUID
				t.BatchID = &id
			}
			if len(params) > 0 {
				_ = json.Unmarshal(params, &t.RequestParams) // only the console's duration is read from it
			}
			out = append(out, &t)
			return paging.Cursor{At: t.CreatedAt, ID: t.ID}, nil
		},
		drop: func(i int) { out = append(out[:i], out[i+1:]...) },
		size: func() int { return len(out) },
	})
	return out, w, err
}

// sinceDays is the cut-off of an age filter.
func (s *Service) sinceDays(days int) time.Time {
	return s.now().Add(-time.Duration(days) * 24 * time.Hour)
}
