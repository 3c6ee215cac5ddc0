package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// AutoApprovalPolicy is one version of an auto-approval policy. An edit never changes a
// row: it supersedes the current version and inserts the next one, so a ticket that names
// the version it matched keeps meaning what the approver (the policy) saw at that time.
type AutoApprovalPolicy struct{ ent.Schema }

func (AutoApprovalPolicy) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (AutoApprovalPolicy) Fields() []ent.Field {
	return []ent.Field{
		// policy_id is the policy across its versions; tickets and limits count by it.
		field.UUID("policy_id", uuid.UUID{}).Immutable(),
		field.Int("version").Positive().Immutable(),
		field.String("name").NotEmpty().MaxLen(100).Immutable(),
		field.Text("description").Default("").Immutable(),
		field.Bool("enabled").Default(false),
		field.Int("priority").Immutable(),
		// Match conditions; an empty list matches anything. Environments is never empty:
		// prod has to be named explicitly.
		field.Strings("environments").Immutable(),
		field.Strings("namespace_ids").Optional().Immutable(),
		field.Strings("system_ids").Optional().Immutable(),
		field.Strings("service_ids").Optional().Immutable(),
		field.Strings("size_ids").Optional().Immutable(),
		field.Bool("standard_sizes_only").Default(false).Immutable().Comment("no GPU and no dedicated CPU"),
		field.Strings("template_names").Optional().Immutable(),
		field.Strings("requester_roles").Optional().Immutable(),
		field.Int("max_disk_gb").Default(0).NonNegative().Immutable().Comment("0: no limit"),
		field.Int("max_per_requester_per_day").Default(0).NonNegative().Immutable().Comment("0: no limit"),
		field.Int("max_per_system_per_day").Default(0).NonNegative().Immutable().Comment("0: no limit"),
		field.UUID("author_id", uuid.UUID{}).Immutable(),
		field.String("author_name").Default("").Immutable(),
		// A policy that may match prod needs a second platform admin's confirmation.
		field.UUID("prod_confirmed_by", uuid.UUID{}).Optional().Nillable(),
		field.String("prod_confirmed_by_name").Default(""),
		field.Time("prod_confirmed_at").Optional().Nillable(),
		field.Time("superseded_at").Optional().Nillable().Comment("set when a newer version replaces this one"),
	}
}

func (AutoApprovalPolicy) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("policy_id", "version").Unique(),
		// Highest priority wins, so two current policies may not share one: refused at save.
		index.Fields("priority").Unique().Annotations(entsql.IndexWhere("(superseded_at IS NULL)")).
			StorageKey("autoapprovalpolicy_one_current_per_priority"),
	}
}

// AutoApprovalSwitch is the single row of the global kill switch (id 1, created by the
// migration): while all_off is set no policy matches, whatever its own state.
type AutoApprovalSwitch struct{ ent.Schema }

func (AutoApprovalSwitch) Fields() []ent.Field {
	return []ent.Field{
		field.Bool("all_off").Default(false),
		field.String("changed_by_name").Default(""),
		field.Time("changed_at").Default(time.Now),
	}
}
