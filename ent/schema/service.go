package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Service belongs to one System; VMs belong to one Service and inherit its System's members.
type Service struct{ ent.Schema }

func (Service) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (Service) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("system_id", uuid.UUID{}).Immutable(),
		// The name is part of every VM name, so it never changes.
		field.String("name").NotEmpty().MaxLen(15).Immutable(),
		field.Text("description").Default(""),
		// next_instance_index only ever grows, so a VM name is never reused.
		field.Int("next_instance_index").Default(1).NonNegative(),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

func (Service) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("system", System.Type).Ref("services").Field("system_id").Unique().Required().Immutable(),
	}
}

func (Service) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("system_id", "name").Unique().Annotations(entsql.IndexWhere("deleted_at IS NULL")),
	}
}
