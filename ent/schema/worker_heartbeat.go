package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// WorkerHeartbeat says that one Shepherd process — one River client, by its client ID —
// is alive. River's open-source driver keeps no liveness of its own (its producer
// keep-alive is a no-op and river_client stays empty), so internal/jobs/liveness writes
// this row every few seconds and hands the running jobs of a process whose row went
// stale back to the queue. Rows are written with raw SQL (one upsert per beat, one
// statement per sweep); the Ent schema keeps the table in the migrations' check.
type WorkerHeartbeat struct{ ent.Schema }

func (WorkerHeartbeat) Fields() []ent.Field {
	return []ent.Field{
		// id is the River client ID, as in river_job.attempted_by.
		field.String("id").NotEmpty().MaxLen(128).Immutable(),
		field.String("hostname").Default(""),
		// boot_id, pid_namespace and pid locate the process on its kernel: a process that
		// shares both with the sweeper and whose pid is gone is known dead at once.
		field.String("boot_id").Default(""),
		field.String("pid_namespace").Default(""),
		field.Int("pid").Default(0),
		field.Time("started_at"),
		field.Time("beat_at"),
	}
}

func (WorkerHeartbeat) Indexes() []ent.Index {
	return []ent.Index{index.Fields("beat_at")}
}
