package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// LoginThrottle counts recent failed sign-ins of one key, an account ("user:<name>") or a
// client address ("ip:<address>"), so password guessing slows down on every replica at
// once. internal/auth/throttle.go owns the policy and updates rows with one atomic upsert.
type LoginThrottle struct{ ent.Schema }

func (LoginThrottle) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").StorageKey("key").NotEmpty().MaxLen(300).Immutable(),
		// failures since first_failure_at; forgotten once the last one is older than the window.
		field.Int("failures").NonNegative().Default(0),
		field.Time("first_failure_at"),
		field.Time("last_failure_at"),
		// blocked_until: attempts before it are refused without checking the password.
		field.Time("blocked_until").Optional().Nillable(),
		// refusal_audited_until is the blocked_until whose first refused attempt was audited,
		// so hammering a blocked key writes one audit row per block, not one per attempt.
		field.Time("refusal_audited_until").Optional().Nillable(),
	}
}

func (LoginThrottle) Indexes() []ent.Index {
	return []ent.Index{index.Fields("last_failure_at"), index.Fields("blocked_until")}
}
