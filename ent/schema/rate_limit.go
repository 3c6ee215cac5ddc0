package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// RateLimitCounter counts one key's changes in the current minute ("global" or
// "user:<id>"), shared by every replica. internal/ratelimit increments it with one
// upsert per request that changes something; a row from an earlier minute restarts at 1.
type RateLimitCounter struct{ ent.Schema }

func (RateLimitCounter) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").StorageKey("key").NotEmpty().MaxLen(100).Immutable(),
		field.Time("window_start"),
		field.Int("current_value").NonNegative().Default(0),
	}
}

func (RateLimitCounter) Indexes() []ent.Index {
	return []ent.Index{index.Fields("window_start")}
}

// RateLimitUserLimit is a platform admin's exception for one user: exempt from the
// limits (optionally until a time), or limits of their own in place of the defaults
// (nil: the default applies). Changed only through internal/ratelimit, audited.
type RateLimitUserLimit struct{ ent.Schema }

func (RateLimitUserLimit) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).StorageKey("user_id").Immutable(),
		field.Bool("exempt").Default(false),
		field.Time("exempt_until").Optional().Nillable(),
		field.Int("changes_per_minute").Optional().Nillable().NonNegative(),
		field.Int("pending_batches").Optional().Nillable().NonNegative(),
		field.Int("pending_batch_items").Optional().Nillable().NonNegative(),
		field.Int("batch_cooldown_seconds").Optional().Nillable().NonNegative(),
		field.Text("reason").Default(""),
		field.UUID("updated_by", uuid.UUID{}).Optional().Nillable(),
		field.String("updated_by_name").Default(""),
		field.Time("updated_at"),
	}
}
