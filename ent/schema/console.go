package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// ConsoleGrant is an approved VNC_ACCESS ticket: one user may open one prod VM's
// console until expires_at, unless an admin revokes the grant first.
type ConsoleGrant struct{ ent.Schema }

func (ConsoleGrant) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (ConsoleGrant) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("vm_id", uuid.UUID{}).Immutable(),
		field.UUID("user_id", uuid.UUID{}).Immutable(),
		field.UUID("ticket_id", uuid.UUID{}).Immutable().Unique(),
		field.String("granted_by").Immutable(),
		field.Time("starts_at").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_by").Default(""),
		field.String("revoke_reason").Default(""),
	}
}

func (ConsoleGrant) Indexes() []ent.Index {
	return []ent.Index{index.Fields("vm_id", "user_id", "expires_at"), index.Fields("expires_at")}
}

// ConsoleTicket is a one-time right to open a console: random, only its SHA-256 kept,
// bound to a user and a VM (and a grant in prod), usable once within a short window.
type ConsoleTicket struct{ ent.Schema }

func (ConsoleTicket) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

func (ConsoleTicket) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Immutable().Unique().Sensitive(),
		field.UUID("user_id", uuid.UUID{}).Immutable(),
		field.UUID("vm_id", uuid.UUID{}).Immutable(),
		field.UUID("grant_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.Bool("take_over").Default(false).Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		// The websocket must connect before expires_at; the session ends by session_ends_at.
		field.Time("expires_at").Immutable(),
		field.Time("session_ends_at").Immutable(),
		field.Time("consumed_at").Optional().Nillable(),
	}
}

func (ConsoleTicket) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// ConsoleSession is the record of one console connection: who, which VM, under which
// ticket and grant, from where, when it opened and closed, the bytes each way and why
// it ended. A revoker (an admin, a grant revocation, a user taking over) sets
// revoked_at and revoke_reason; the process holding the socket sees it and closes.
type ConsoleSession struct{ ent.Schema }

func (ConsoleSession) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

func (ConsoleSession) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("ticket_id", uuid.UUID{}).Immutable().Unique(),
		field.UUID("user_id", uuid.UUID{}).Immutable(),
		field.String("user_name").Immutable(),
		field.UUID("vm_id", uuid.UUID{}).Immutable(),
		field.String("vm_name").Immutable(),
		field.Enum("environment").Values("test", "prod").Immutable(),
		field.UUID("cluster_id", uuid.UUID{}).Immutable(),
		field.UUID("grant_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.String("client_ip").Default("").Immutable(),
		field.String("replica").Default("").Immutable().Comment("the process that holds the socket"),
		field.Time("opened_at").Default(time.Now).Immutable(),
		field.Time("ends_at").Immutable(),
		field.Time("closed_at").Optional().Nillable(),
		field.Int64("bytes_to_vm").Default(0),
		field.Int64("bytes_from_vm").Default(0),
		field.String("close_reason").Default(""),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_by").Default(""),
		field.String("revoke_reason").Default(""),
	}
}

func (ConsoleSession) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("vm_id", "opened_at"),
		index.Fields("user_id", "opened_at"),
		// Live sessions: what admins list and what each process watches for revocation.
		index.Fields("closed_at").Annotations(entsql.IndexWhere("closed_at IS NULL")).StorageKey("consolesession_live"),
	}
}
