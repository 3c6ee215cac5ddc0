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

// DomainEvent is the claim check of a requested change: its payload is frozen at insert
// ("what you see is what you sign"); only its status moves. Jobs carry its id only.
type DomainEvent struct{ ent.Schema }

func (DomainEvent) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (DomainEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("event_type").NotEmpty().MaxLen(64).Immutable(),
		field.String("aggregate_type").NotEmpty().MaxLen(32).Immutable(),
		field.String("aggregate_id").Default("").Immutable(),
		field.JSON("payload", map[string]any{}).Immutable().SchemaType(jsonb),
		field.Enum("status").Values("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED").Default("PENDING"),
		field.UUID("requested_by", uuid.UUID{}).Immutable(),
		field.String("error_message").Default(""),
		field.Time("processed_at").Optional().Nillable(),
	}
}

func (DomainEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("aggregate_type", "aggregate_id"), index.Fields("requested_by", "created_at")}
}

// ApprovalTicket is a request awaiting (or past) a decision.
type ApprovalTicket struct{ ent.Schema }

func (ApprovalTicket) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (ApprovalTicket) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("type").Values("VM_CREATE", "VM_DELETE", "VM_START", "VM_STOP", "VM_RESTART", "VNC_ACCESS").Immutable(),
		field.Enum("status").Values("PENDING_APPROVAL", "APPROVED", "EXECUTING", "SUCCESS", "FAILED", "REJECTED", "CANCELLED").
			Default("PENDING_APPROVAL"),
		field.UUID("event_id", uuid.UUID{}).Immutable(),
		field.UUID("requester_id", uuid.UUID{}).Immutable(),
		field.String("requester_name").Default("").Immutable(),
		field.Text("reason").Immutable(),
		// Request context. System, service and namespace are fixed at submission.
		field.UUID("system_id", uuid.UUID{}).Immutable(),
		field.UUID("service_id", uuid.UUID{}).Immutable(),
		field.UUID("namespace_id", uuid.UUID{}).Immutable(),
		field.String("namespace_name").Immutable(),
		field.Enum("environment").Values("test", "prod").Immutable(),
		field.String("target_name").Default("").Comment("system/service or the VM name, for lists"),
		field.UUID("instance_size_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.UUID("template_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.JSON("request_params", map[string]any{}).Optional().Immutable().SchemaType(jsonb),
		field.UUID("vm_id", uuid.UUID{}).Optional().Nillable(),
		// Decision.
		field.UUID("approver_id", uuid.UUID{}).Optional().Nillable(),
		field.String("approver_name").Default(""),
		field.Time("decided_at").Optional().Nillable(),
		field.Text("decision_reason").Default(""),
		// Set when an auto-approval policy decided instead of a person: the policy and the
		// version that matched (approver_name then reads "policy NAME (vN)").
		field.UUID("decided_by_policy_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("decided_by_policy_version").Optional().Nillable(),
		// Why a policy that matched did not approve (no eligible cluster, daily limit):
		// shown on the request page while it waits for a person.
		field.Text("auto_approval_note").Default(""),
		field.UUID("selected_cluster_id", uuid.UUID{}).Optional().Nillable(),
		field.UUID("selected_template_id", uuid.UUID{}).Optional().Nillable(),
		field.String("selected_storage_class").Default(""),
		field.JSON("modified_spec", map[string]any{}).Optional().SchemaType(jsonb),
		field.Text("modification_reason").Default(""),
		field.JSON("template_snapshot", map[string]any{}).Optional().SchemaType(jsonb),
		field.JSON("instance_size_snapshot", map[string]any{}).Optional().SchemaType(jsonb),
		field.String("final_cpu_request").Default(""),
		field.String("final_cpu_limit").Default(""),
		field.String("final_mem_request").Default(""),
		field.String("final_mem_limit").Default(""),
		field.Int("final_disk_gb").Default(0),
		field.Text("error_message").Default(""),
		// The failure's code (kube error codes such as NAMESPACE_PERMISSION_DENIED), so
		// pages can say what an admin can do without parsing the message.
		field.String("error_code").Default(""),
		// Execution progress, written by the worker step by step (queued, namespace
		// ready, applied, running) so the portal can show where a request is.
		field.JSON("steps", []ExecStep{}).Optional(),
		field.Time("executed_at").Optional().Nillable().Comment("when the worker finished (SUCCESS or FAILED)"),
		// The batch this ticket is a child of (ticket_batches); nil for single requests.
		field.UUID("batch_id", uuid.UUID{}).Optional().Nillable().Immutable(),
	}
}

func (ApprovalTicket) Edges() []ent.Edge {
	return []ent.Edge{edge.From("batch", TicketBatch.Type).Ref("tickets").Field("batch_id").Unique().Immutable()}
}

// ExecStep is one step of a ticket's execution as the portal shows it.
type ExecStep struct {
	Name    string    `json:"name"`
	State   string    `json:"state"` // running | done | failed
	At      time.Time `json:"at"`
	Message string    `json:"message,omitempty"`
}

func (ApprovalTicket) Indexes() []ent.Index {
	return []ent.Index{
		// The inbox: pending tickets, oldest first.
		index.Fields("status", "created_at"),
		index.Fields("requester_id", "created_at"),
		index.Fields("system_id"),
		// A batch's children (batch page, computed parent status).
		index.Fields("batch_id"),
		// Daily limits of auto-approval policies count by policy and decision time.
		index.Fields("decided_by_policy_id", "decided_at"),
		// A VM's operations, latest decision first (VM page, its polling and history).
		index.Fields("vm_id", "decided_at"),
		// At most one pending operation of a kind per existing VM. The condition is written
		// the way PostgreSQL prints it back, so the schema-drift check compares equal.
		// Console access is asked for by each person, so it has its own index below.
		index.Fields("vm_id", "type").Unique().Annotations(entsql.IndexWhere("((status)::text = 'PENDING_APPROVAL'::text) AND (vm_id IS NOT NULL) AND ((type)::text <> 'VNC_ACCESS'::text)")).
			StorageKey("approvalticket_one_pending_per_vm_op"),
		// At most one pending console access request per VM and person.
		index.Fields("vm_id", "requester_id").Unique().Annotations(entsql.IndexWhere("((status)::text = 'PENDING_APPROVAL'::text) AND ((type)::text = 'VNC_ACCESS'::text) AND (vm_id IS NOT NULL)")).
			StorageKey("approvalticket_one_pending_console_per_user"),
		// At most one operation in flight per VM (create, power or delete), whatever the
		// environment: auto-approved test operations skip PENDING_APPROVAL entirely.
		index.Fields("vm_id").Unique().Annotations(entsql.IndexWhere("(((status)::text = 'APPROVED'::text) OR ((status)::text = 'EXECUTING'::text)) AND (vm_id IS NOT NULL)")).
			StorageKey("approvalticket_one_inflight_per_vm"),
	}
}

// VM is a virtual machine Shepherd governs. Rows are tombstoned (DELETED), never removed.
type VM struct{ ent.Schema }

func (VM) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (VM) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(63).Immutable(),
		field.UUID("service_id", uuid.UUID{}).Immutable(),
		field.UUID("system_id", uuid.UUID{}).Immutable().Comment("denormalised from the service for visibility filters"),
		field.UUID("namespace_id", uuid.UUID{}).Immutable(),
		field.String("namespace_name").Immutable(),
		field.Enum("environment").Values("test", "prod").Immutable(),
		field.UUID("cluster_id", uuid.UUID{}).Immutable(),
		field.Int("instance_index").Immutable(),
		field.UUID("instance_size_id", uuid.UUID{}).Immutable(),
		field.String("instance_size_name").Default(""),
		field.UUID("template_id", uuid.UUID{}).Immutable(),
		field.UUID("ticket_id", uuid.UUID{}).Immutable(),
		field.Enum("status").Values("CREATING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "RESTARTING", "DELETING",
			"DELETED", "FAILED", "UNKNOWN").Default("CREATING"),
		field.Text("status_message").Default(""),
		field.Int("cpu_cores").Default(0),
		field.Int("memory_mib").Default(0),
		field.Int("disk_gb").Default(0),
		field.String("storage_class").Default(""),
		field.String("k8s_uid").Default(""),
		field.String("ip").Default(""),
		field.String("node").Default(""),
		// Observed side, kept by status sync: false when the cluster object is gone.
		field.Bool("k8s_exists").Default(true),
		field.Time("synced_at").Optional().Nillable(),
		field.UUID("created_by", uuid.UUID{}).Immutable(),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

func (VM) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("cluster_id", "namespace_name", "name").Unique().Annotations(entsql.IndexWhere("deleted_at IS NULL")),
		index.Fields("system_id", "created_at"),
		index.Fields("service_id", "created_at"),
		index.Fields("created_at"),
		index.Fields("status"),
		// Covers the platform-wide VM list (live VMs, newest first) so deep pages are an
		// index-only scan. The condition is written the way PostgreSQL prints it back.
		index.Fields("created_at", "id").Annotations(entsql.IndexWhere("(status)::text <> 'DELETED'::text")).StorageKey("vm_live_created_at"),
	}
}

// Notification is an in-app inbox message for one user.
type Notification struct{ ent.Schema }

func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.UUID("recipient_id", uuid.UUID{}).Immutable(),
		field.Enum("type").Values("APPROVAL_REQUIRED", "REQUEST_APPROVED", "REQUEST_REJECTED", "REQUEST_CANCELLED",
			"VM_CREATED", "VM_DELETED", "VM_FAILED", "APPROVAL_OVERDUE",
			"VM_OPERATION_DONE", "VM_OPERATION_FAILED").Immutable(),
		// title, body, link and ticket change only when approval requests are gathered into one
		// unread digest entry (notify.Send); count is how many it stands for.
		field.String("title").NotEmpty(),
		field.Text("body").Default(""),
		field.String("link").Default(""),
		field.UUID("ticket_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("count").Default(1),
		field.Time("read_at").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (Notification) Indexes() []ent.Index {
	return []ent.Index{index.Fields("recipient_id", "created_at"), index.Fields("recipient_id").Annotations(entsql.IndexWhere("read_at IS NULL")).StorageKey("notification_unread")}
}

// PendingAdoption is a VM found on a cluster with Shepherd's labels but no row in
// Shepherd (spec/domain §7.7): the reconciler records it; an admin adopts or ignores it.
type PendingAdoption struct{ ent.Schema }

func (PendingAdoption) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (PendingAdoption) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("cluster_id", uuid.UUID{}).Immutable(),
		field.String("cluster_name").Immutable(),
		field.String("namespace").Immutable(),
		field.String("name").Immutable(),
		field.String("k8s_uid").Default(""),
		field.String("system_label").Default(""),
		field.String("service_label").Default(""),
		field.String("instance_label").Default(""),
		field.Bool("adoptable").Default(false).Comment("the service label names an existing Service"),
		field.Enum("status").Values("PENDING", "ADOPTED", "IGNORED").Default("PENDING"),
		field.Time("last_seen_at"),
	}
}

func (PendingAdoption) Indexes() []ent.Index {
	return []ent.Index{index.Fields("cluster_id", "namespace", "name").Unique(), index.Fields("status")}
}

// TicketBatch is the parent of a batch request: N child approval tickets of one type
// submitted together (spec flows §2.21). Its status is never stored; it is computed
// from the children (governance.BatchStatus), so it cannot drift from them.
type TicketBatch struct{ ent.Schema }

func (TicketBatch) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (TicketBatch) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("type").Values("VM_CREATE", "VM_DELETE").Immutable(),
		field.UUID("requester_id", uuid.UUID{}).Immutable(),
		field.String("requester_name").Default("").Immutable(),
		field.Text("reason").Immutable(),
		field.UUID("system_id", uuid.UUID{}).Immutable(),
		field.UUID("service_id", uuid.UUID{}).Immutable(),
		field.UUID("namespace_id", uuid.UUID{}).Immutable(),
		field.String("namespace_name").Immutable(),
		field.Enum("environment").Values("test", "prod").Immutable(),
		field.String("target_name").Default("").Immutable().Comment("system/service, for lists"),
		field.UUID("instance_size_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.UUID("template_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.JSON("request_params", map[string]any{}).Optional().Immutable().SchemaType(jsonb),
		field.Int("child_count").Positive().Immutable(),
	}
}

func (TicketBatch) Edges() []ent.Edge {
	return []ent.Edge{edge.To("tickets", ApprovalTicket.Type)}
}

func (TicketBatch) Indexes() []ent.Index {
	return []ent.Index{
		// My requests and the per-user pending batch limits.
		index.Fields("requester_id", "created_at"),
		index.Fields("system_id"),
		index.Fields("created_at"),
	}
}
