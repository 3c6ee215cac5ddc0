package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// System is the top of the System → Service → VM hierarchy; members are granted here.
type System struct{ ent.Schema }

func (System) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (System) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(15),
		field.Text("description").Default(""),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

func (System) Edges() []ent.Edge {
	return []ent.Edge{edge.To("members", SystemMember.Type), edge.To("services", Service.Type)}
}

func (System) Indexes() []ent.Index {
	// Names are unique among live Systems; a deleted System's name can be reused.
	return []ent.Index{index.Fields("name").Unique().Annotations(entsql.IndexWhere("deleted_at IS NULL"))}
}

// SystemMember is a resource-level role (owner/admin/member/viewer) that Services and VMs inherit.
type SystemMember struct{ ent.Schema }

func (SystemMember) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.UUID("system_id", uuid.UUID{}),
		field.UUID("user_id", uuid.UUID{}),
		field.Enum("role").Values("owner", "admin", "member", "viewer"),
		// source says where the membership came from: granted by hand, or made from an
		// IdP group mapping at sign-in (rebuilt then; hand-made ones are never touched).
		field.Enum("source").Values("manual", "idp_mapping").Default("manual"),
		field.UUID("granted_by", uuid.UUID{}).Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (SystemMember) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("system", System.Type).Ref("members").Field("system_id").Unique().Required(),
		edge.From("user", User.Type).Ref("memberships").Field("user_id").Unique().Required(),
	}
}

func (SystemMember) Indexes() []ent.Index {
	return []ent.Index{index.Fields("system_id", "user_id").Unique(), index.Fields("user_id")}
}
