package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/db"
)

// Shipper pushes the audit log to a SIEM's webhook (spec domain §10.5): batches of events
// in order, each POST signed with HMAC-SHA256 of its body, the cursor advanced only when
// the receiver answered 2xx — a failure leaves it where it was, and the River job that
// runs Ship retries with backoff, so nothing is lost and, per receiver acknowledgement,
// nothing is sent twice. The cursor row is locked while a batch is in flight, so the
// shippers of several replicas take turns.
type Shipper struct {
	Store  *db.Store
	URL    string
	Secret []byte
	// Batch is the most events per POST. Default 100.
	Batch int
	// Settle leaves the newest rows for the next run: a row's created_at is its
	// transaction's start, so a transaction that commits late writes rows "in the past";
	// waiting Settle before shipping keeps the cursor from passing them. Default 30s.
	Settle time.Duration
	// Actions (prefixes such as "vm." or exact codes) and Environments narrow what is
	// sent; empty sends everything. Rows left out still move the cursor.
	Actions, Environments []string
	Client                *http.Client
}

// Delivery is the body of one POST.
type Delivery struct {
	ID     string     `json:"delivery_id"`
	Sent   string     `json:"sent_at"`
	Events []ECSEvent `json:"events"`
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body under the secret.
const SignatureHeader = "X-Shepherd-Signature-256"

// Sign is the signature header's value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Ship sends every settled row past the cursor, a batch at a time, and returns how many
// events it delivered.
func (s *Shipper) Ship(ctx context.Context) (int, error) {
	batch, settle := s.Batch, s.Settle
	if batch <= 0 {
		batch = 100
	}
	if settle <= 0 {
		settle = 30 * time.Second
	}
	if _, err := s.Store.SQL.ExecContext(ctx, `INSERT INTO audit_webhook_cursors (id, shipped, updated_at) VALUES (1, 0, now())
		ON CONFLICT (id) DO NOTHING`); err != nil {
		return 0, fmt.Errorf("audit webhook cursor: %w", err)
	}
	total := 0
	for {
		n, more, err := s.shipBatch(ctx, batch, settle)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// shipBatch sends one batch in a transaction holding the cursor row; more reports a full
// batch (there may be more behind it).
func (s *Shipper) shipBatch(ctx context.Context, batch int, settle time.Duration) (sent int, more bool, err error) {
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var lastAt sql.NullTime
		var lastID uuid.NullUUID
		if err := tx.SQL.QueryRowContext(ctx, `SELECT last_created_at, last_id FROM audit_webhook_cursors WHERE id = 1 FOR UPDATE`).
			Scan(&lastAt, &lastID); err != nil {
			return fmt.Errorf("audit webhook cursor: %w", err)
		}
		q := tx.Ent.AuditLog.Query().Where(auditlog.CreatedAtLT(time.Now().Add(-settle)))
		if lastAt.Valid && lastID.Valid {
			at, id := lastAt.Time, lastID.UUID
			q = q.Where(func(sel *entsql.Selector) {
				sel.Where(entsql.And(
					entsql.GTE(sel.C(auditlog.FieldCreatedAt), at),
					entsql.Or(entsql.GT(sel.C(auditlog.FieldCreatedAt), at), entsql.GT(sel.C(auditlog.FieldID), id)),
				))
			})
		}
		rows, err := q.Order(ent.Asc(auditlog.FieldCreatedAt), ent.Asc(auditlog.FieldID)).Limit(batch).All(ctx)
		if err != nil || len(rows) == 0 {
			return err
		}
		events := make([]ECSEvent, 0, len(rows))
		for _, r := range rows {
			if s.wanted(r) {
				events = append(events, ECS(r))
			}
		}
		if len(events) > 0 {
			if err := s.post(ctx, events); err != nil {
				return err
			}
		}
		last := rows[len(rows)-1]
		if _, err := tx.SQL.ExecContext(ctx, `UPDATE audit_webhook_cursors SET last_created_at = $1, last_id = $2,
			shipped = shipped + $3, updated_at = now() WHERE id = 1`, last.CreatedAt, last.ID, len(events)); err != nil {
			return fmt.Errorf("audit webhook cursor: %w", err)
		}
		sent, more = len(events), len(rows) == batch
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return sent, more, nil
}

func (s *Shipper) wanted(r *ent.AuditLog) bool {
	if len(s.Environments) > 0 && !slices.Contains(s.Environments, r.Environment) {
		return false
	}
	if len(s.Actions) == 0 {
		return true
	}
	for _, a := range s.Actions {
		p := strings.TrimRight(a, "*%")
		if p != a || strings.HasSuffix(a, ".") {
			if strings.HasPrefix(r.Action, p) {
				return true
			}
		} else if r.Action == a {
			return true
		}
	}
	return false
}

func (s *Shipper) post(ctx context.Context, events []ECSEvent) error {
	body, err := json.Marshal(Delivery{ID: uuid.NewString(), Sent: time.Now().UTC().Format(time.RFC3339Nano), Events: events})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Shepherd-Audit-Webhook/1")
	req.Header.Set(SignatureHeader, Sign(s.Secret, body))
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("audit webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("audit webhook: the receiver answered %s", resp.Status)
	}
	return nil
}
