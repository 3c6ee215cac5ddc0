package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// ClusterWatchLease names the one process that watches a cluster's VMs (status sync):
// with several replicas on one PostgreSQL, each cluster is watched by exactly one of
// them. The holder renews the lease every few seconds and hands it to the process that
// asks for it; a lease that expired (its holder died) may be taken by another process.
// Rows are written with raw SQL by internal/statussync; the Ent schema keeps the table
// in the migrations' check.
type ClusterWatchLease struct{ ent.Schema }

func (ClusterWatchLease) Fields() []ent.Field {
	return []ent.Field{
		// id is the cluster's id.
		field.UUID("id", uuid.UUID{}).Immutable(),
		// holder is the process's River client ID, as in worker_heartbeats.id.
		field.String("holder").NotEmpty().MaxLen(128),
		field.Time("acquired_at"),
		field.Time("expires_at"),
		// wanted_by is the process the cluster should move to (its preferred one, asking);
		// the holder hands the lease over at its next renewal, so a lease never lapses.
		field.String("wanted_by").MaxLen(128).Default(""),
	}
}

func (ClusterWatchLease) Indexes() []ent.Index {
	return []ent.Index{index.Fields("holder")}
}
