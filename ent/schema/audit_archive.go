package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// AuditArchive holds audit rows the retention job moved out of audit_logs once they were
// older than their retention period: gzip-compressed JSON Lines in the export's event
// shape, with the rows' time range and a SHA-256 of the content. Rows leave audit_logs
// only in the transaction that stores their archive and audits the move.
type AuditArchive struct{ ent.Schema }

func (AuditArchive) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("first_at").Immutable().Comment("created_at of the oldest row inside"),
		field.Time("last_at").Immutable().Comment("created_at of the newest row inside"),
		field.Int("row_count").Immutable(),
		// Rows per retention class (test, prod, platform, sensitive).
		field.JSON("classes", map[string]int{}).Immutable(),
		field.String("sha256").Immutable(),
		field.Int("size_bytes").Immutable(),
		field.Bytes("content").Immutable(),
	}
}

func (AuditArchive) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at"), index.Fields("first_at")}
}
