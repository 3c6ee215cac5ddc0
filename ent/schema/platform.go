package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Session is a server-side browser session; the cookie carries only its signed id.
type Session struct{ ent.Schema }

func (Session) Fields() []ent.Field {
	return []ent.Field{
		// id is the SHA-256 of the random cookie value, so a database read does not yield usable cookies.
		field.String("id").NotEmpty().MaxLen(64).Immutable(),
		field.UUID("user_id", uuid.UUID{}).Optional().Nillable(),
		field.Bytes("data").Default([]byte{}),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("last_seen_at").Default(time.Now),
		field.Time("expires_at"),
		field.Time("revoked_at").Optional().Nillable(),
		// flashes queues messages for the session's next page (appended and taken atomically).
		field.Strings("flashes").Optional(),
	}
}

func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id"), index.Fields("expires_at")}
}

// SystemSecret stores keys generated at first start when none were configured.
type SystemSecret struct{ ent.Schema }

func (SystemSecret) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().MaxLen(64).Immutable(),
		field.Bytes("value").Sensitive(),
		field.Enum("source").Values("db_generated").Default("db_generated"),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// AuditLog is append-only: the database refuses UPDATE and DELETE on it (see migrations).
type AuditLog struct{ ent.Schema }

func (AuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("action").NotEmpty().MaxLen(50).Immutable(),
		field.UUID("actor_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.String("actor_name").Default("").Immutable(),
		field.String("resource_type").Default("").Immutable(),
		field.String("resource_id").Default("").Immutable(),
		field.String("resource_name").Default("").Immutable(),
		field.String("parent_type").Default("").Immutable(),
		field.String("parent_id").Default("").Immutable(),
		field.String("environment").Default("").Immutable(),
		field.JSON("details", map[string]any{}).Optional().Immutable().
			SchemaType(map[string]string{dialect.Postgres: "jsonb"}),
		field.String("ip_address").Default("").Immutable(),
		field.String("user_agent").Default("").Immutable(),
		field.String("request_id").Default("").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (AuditLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("actor_id", "created_at"),
		index.Fields("resource_type", "resource_id", "created_at"),
		index.Fields("action", "created_at"),
		index.Fields("created_at"),
	}
}
