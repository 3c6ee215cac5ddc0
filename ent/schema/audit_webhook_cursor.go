package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// AuditWebhookCursor is how far the SIEM webhook has shipped the audit log: the
// (created_at, id) of the last row sent. One row (id 1), locked while a batch is sent, so
// shippers on several replicas never send a batch twice. Written with raw SQL by
// internal/audit; the Ent schema keeps the table in the migrations' check.
type AuditWebhookCursor struct{ ent.Schema }

func (AuditWebhookCursor) Fields() []ent.Field {
	return []ent.Field{
		field.Int("id"),
		field.Time("last_created_at").Optional().Nillable(),
		field.UUID("last_id", uuid.UUID{}).Optional().Nillable(),
		field.Int64("shipped").Default(0),
		field.Time("updated_at"),
	}
}
