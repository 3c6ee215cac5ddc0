package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// IdentityProvider is an OpenID Connect provider added by a platform admin in the portal
// (the provider configured from SHEPHERD_OIDC_* settings is not stored here). Every
// replica reads it from here: a change applies everywhere within seconds.
type IdentityProvider struct{ ent.Schema }

func (IdentityProvider) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (IdentityProvider) Fields() []ent.Field {
	return []ent.Field{
		// key names the provider in URLs (/auth/idp/<key>/start), in the sign-in state and
		// in its group mappings; it never changes.
		field.String("key").NotEmpty().MaxLen(40).Unique().Immutable(),
		// label is the sign-in button's text ("Sign in with <label>").
		field.String("label").NotEmpty().MaxLen(80),
		// issuer is also what the provider's users are stored under (users.issuer).
		field.String("issuer").NotEmpty().MaxLen(500).Unique(),
		field.String("client_id").NotEmpty().MaxLen(255),
		// client_secret_sealed is the client secret sealed with AES-256-GCM
		// (SHEPHERD_ENCRYPTION_KEY); it is never shown, logged or audited.
		field.String("client_secret_sealed").Sensitive().Default(""),
		field.Strings("scopes").Default([]string{"profile", "email"}),
		field.String("groups_claim").NotEmpty().MaxLen(100).Default("groups"),
		field.Bool("enabled").Default(true),
		// version grows with every change: an edit made on an older copy is refused.
		field.Int("version").Default(1),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
	}
}

func (IdentityProvider) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "identity_providers"}}
}

// IdPSeenGroup is a group a provider delivered at a sign-in lately: the grid offers them,
// so admins map what really arrives (hashed ids or paths, as the provider sends them).
type IdPSeenGroup struct{ ent.Schema }

func (IdPSeenGroup) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("provider").NotEmpty().MaxLen(40),
		field.String("group_name").NotEmpty().MaxLen(255),
		field.Time("first_seen_at").Default(time.Now).Immutable(),
		field.Time("last_seen_at").Default(time.Now),
	}
}

func (IdPSeenGroup) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "idp_seen_groups"}}
}

func (IdPSeenGroup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("provider", "group_name").Unique()}
}

// IdPUserGroups are the groups a user's latest IdP sign-in delivered, from which
// "Re-evaluate signed-in users" rebuilds their mapped bindings. The id is the user's.
type IdPUserGroups struct{ ent.Schema }

func (IdPUserGroups) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Immutable(),
		field.String("provider").NotEmpty().MaxLen(40),
		field.Strings("groups").Default([]string{}),
		field.Time("signed_in_at").Default(time.Now),
	}
}

func (IdPUserGroups) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "idp_user_groups"}}
}
