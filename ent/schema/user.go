package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// User is a person who signs in, locally or through the IdP.
type User struct{ ent.Schema }

func (User) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("username").NotEmpty().MaxLen(255).Unique(),
		field.String("email").Default("").MaxLen(320),
		field.String("display_name").Default("").MaxLen(255),
		field.Enum("auth_type").Values("local", "oidc").Default("local"),
		// external_id is the IdP subject (`sub`); local accounts have none. A subject is
		// unique only within its issuer, so IdP users are keyed by (issuer, external_id).
		field.String("external_id").Optional().Nillable().MaxLen(255),
		// issuer is the key of the identity provider that vouches for external_id: its
		// issuer URL, or a fixed name for the development issuer (auth.DevIssuerKey).
		field.String("issuer").Optional().Nillable().MaxLen(2048),
		field.String("password_hash").Optional().Sensitive(),
		field.Bool("force_password_change").Default(false),
		field.Bool("disabled").Default(false),
		field.Time("last_login_at").Optional().Nillable(),
		// authz_version changes (by triggers, in the changing transaction) whenever what the
		// user may do changes: their role bindings or memberships, a role's permissions, or
		// the name or deletion of one of their Systems. A cached principal is good while it
		// matches.
		field.Int64("authz_version").Default(0),
	}
}

func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("issuer", "external_id").Unique(),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("role_bindings", RoleBinding.Type),
		edge.To("memberships", SystemMember.Type),
	}
}
