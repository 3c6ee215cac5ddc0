package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// ClusterHealthCheck is one outcome of the periodic cluster check (or of the connection
// test at registration and credential rotation), kept so an admin can see when a
// cluster started failing. The health job prunes old rows.
type ClusterHealthCheck struct{ ent.Schema }

func (ClusterHealthCheck) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

func (ClusterHealthCheck) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("cluster_id", uuid.UUID{}).Immutable(),
		field.Time("checked_at").Default(time.Now).Immutable(),
		field.Enum("status").Values("UNKNOWN", "HEALTHY", "UNHEALTHY", "UNREACHABLE").Immutable(),
		field.Text("message").Default("").Immutable(),
		field.String("kubernetes_version").Default("").Immutable(),
		field.String("kubevirt_version").Default("").Immutable(),
		field.Int("duration_ms").Default(0).NonNegative().Immutable(),
	}
}

func (ClusterHealthCheck) Indexes() []ent.Index {
	return []ent.Index{
		// A cluster's history, newest first (its page, and pruning beyond the newest N).
		index.Fields("cluster_id", "checked_at").Annotations(entsql.DescColumns("checked_at")),
	}
}
