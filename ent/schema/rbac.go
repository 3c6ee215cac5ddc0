package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Permission is an atomic `resource:action` right. Wildcards do not exist.
type Permission struct{ ent.Schema }

func (Permission) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().MaxLen(64).Immutable(),
		field.String("description").Default(""),
	}
}

func (Permission) Edges() []ent.Edge {
	return []ent.Edge{edge.From("roles", Role.Type).Ref("permissions")}
}

// Role is a named set of permissions; built-in roles are seeded and locked.
type Role struct{ ent.Schema }

func (Role) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(64).Unique(),
		field.String("description").Default(""),
		field.Bool("is_builtin").Default(false),
	}
}

func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("permissions", Permission.Type),
		edge.To("bindings", RoleBinding.Type),
	}
}

// RoleBinding grants a role globally (or on one System) in a set of environments.
type RoleBinding struct{ ent.Schema }

func (RoleBinding) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.UUID("user_id", uuid.UUID{}),
		field.UUID("role_id", uuid.UUID{}),
		field.Enum("scope_type").Values("global", "system").Default("global"),
		// scope_id is empty for global bindings, a System id otherwise; never NULL so the
		// unique index below also holds for global bindings.
		field.String("scope_id").Default(""),
		field.Strings("allowed_environments").Default([]string{"test"}),
		field.Enum("source").Values("seed", "manual", "idp_mapping").Default("manual"),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (RoleBinding) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("role_bindings").Field("user_id").Unique().Required(),
		edge.From("role", Role.Type).Ref("bindings").Field("role_id").Unique().Required(),
	}
}

func (RoleBinding) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "role_id", "scope_type", "scope_id").Unique()}
}

// IdPGroupMapping maps an IdP group to a role; bindings from it are rebuilt at every login.
type IdPGroupMapping struct{ ent.Schema }

func (IdPGroupMapping) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		// provider is the key of the provider whose groups this maps: "default" for the
		// one configured from settings, an identity_providers key otherwise.
		field.String("provider").NotEmpty().MaxLen(40).Default("default"),
		field.String("group_name").NotEmpty().MaxLen(255),
		field.UUID("role_id", uuid.UUID{}),
		field.Strings("allowed_environments").Default([]string{"test"}),
		// system_id and member_role (both or neither) also make the group's users members
		// of that System; such memberships carry source idp_mapping and are rebuilt with
		// the bindings. A deleted System makes the mapping give no membership.
		field.UUID("system_id", uuid.UUID{}).Optional().Nillable(),
		field.Enum("member_role").Values("owner", "admin", "member", "viewer").Optional().Nillable(),
		// version grows with every change: an edit made on an older copy is refused.
		field.Int("version").Default(1),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

func (IdPGroupMapping) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "idp_group_mappings"}}
}

func (IdPGroupMapping) Indexes() []ent.Index {
	return []ent.Index{index.Fields("provider", "group_name", "role_id").Unique()}
}
