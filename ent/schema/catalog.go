package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

var jsonb = map[string]string{dialect.Postgres: "jsonb"}

// Namespace is a logical namespace registered by an admin; it is created on a cluster
// just in time. Its environment decides who may use it and which clusters are eligible.
type Namespace struct{ ent.Schema }

func (Namespace) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (Namespace) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(15).Unique().Immutable(),
		field.Enum("environment").Values("test", "prod"),
		field.String("description").Default(""),
		field.Bool("enabled").Default(true),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
	}
}

// GPUDevice is one GPU a size asks for.
type GPUDevice struct {
	Name       string `json:"name"`
	DeviceName string `json:"device_name"`
}

// Cluster is a Kubernetes cluster with KubeVirt that VMs can be placed on.
type Cluster struct{ ent.Schema }

func (Cluster) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (Cluster) Fields() []ent.Field {
	return []ent.Field{
		// Unique for good: a deleted cluster keeps its name, so VM history stays unambiguous.
		field.String("name").NotEmpty().MaxLen(63).Unique(),
		field.Enum("environment").Values("test", "prod"),
		// provider: "sim" clusters are simulated in-process; "kubevirt" ones are real.
		field.Enum("provider").Values("sim", "kubevirt").Default("kubevirt"),
		field.Enum("status").Values("UNKNOWN", "HEALTHY", "UNHEALTHY", "UNREACHABLE").Default("UNKNOWN"),
		field.String("status_message").Default(""),
		field.Bool("enabled").Default(true),
		field.Int("scheduling_weight").Default(100).NonNegative(),
		field.String("api_server_url").Default(""),
		// AES-256-GCM sealed kubeconfig; never leaves the server.
		field.Text("kubeconfig_sealed").Optional().Sensitive(),
		// What may be shown about the credentials: the kubeconfig context used and how it
		// authenticates (token, client certificate, basic), never the credential itself.
		field.String("kubeconfig_context").Default(""),
		field.String("auth_method").Default(""),
		field.Time("credentials_rotated_at").Optional().Nillable(),
		field.String("kubernetes_version").Default(""),
		field.String("kubevirt_version").Default(""),
		field.Strings("gpu_devices").Default([]string{}),
		field.Strings("hugepages").Default([]string{}),
		field.Bool("dedicated_cpu").Default(false),
		field.Strings("sriov_networks").Default([]string{}),
		field.Strings("storage_classes").Default([]string{}),
		field.String("default_storage_class").Default(""),
		field.Time("last_checked_at").Optional().Nillable(),
		// Soft delete: VM history, tickets and audit rows keep naming the cluster.
		field.Time("deleted_at").Optional().Nillable(),
	}
}

// InstanceSize is an admin-defined hardware shape users pick by name.
type InstanceSize struct{ ent.Schema }

func (InstanceSize) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (InstanceSize) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(63).Unique(),
		field.String("display_name").Default(""),
		field.String("description").Default(""),
		// Advertised shape (= the limit users see).
		field.Int("cpu_cores").Positive(),
		field.Int("memory_mib").Positive(),
		// Overcommit: the request is lower than the limit (Burstable QoS).
		field.Bool("cpu_overcommit").Default(false),
		field.Int("cpu_request_millis").Default(0).NonNegative(),
		field.Bool("mem_overcommit").Default(false),
		field.Int("mem_request_mib").Default(0).NonNegative(),
		field.Bool("dedicated_cpu").Default(false),
		field.String("hugepages_size").Default(""),
		field.JSON("gpu_devices", []GPUDevice{}).Optional(),
		field.Bool("requires_gpu").Default(false),
		field.Int("disk_default_gb").Default(100).Positive(),
		field.Int("disk_min_gb").Default(50).Positive(),
		field.Int("disk_max_gb").Default(500).Positive(),
		field.JSON("spec_overrides", map[string]any{}).Optional().SchemaType(jsonb),
		field.Bool("enabled").Default(true),
		field.Int("sort_order").Default(0),
	}
}

func (InstanceSize) Indexes() []ent.Index {
	return []ent.Index{index.Fields("cpu_cores", "memory_mib"), index.Fields("requires_gpu"), index.Fields("dedicated_cpu")}
}

// Template is one version of an OS image + cloud-init; versions of one name share it.
type Template struct{ ent.Schema }

func (Template) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

func (Template) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(63),
		field.Int("version").Positive(),
		field.Enum("status").Values("draft", "active", "deprecated", "archived").Default("draft"),
		field.String("display_name").Default(""),
		field.String("description").Default(""),
		field.String("category").Default(""),
		field.Enum("source_type").Values("containerdisk", "pvc").Default("containerdisk"),
		field.String("image").Default(""),
		field.String("pvc_namespace").Default(""),
		field.String("pvc_name").Default(""),
		field.Text("cloud_init").Default(""),
		field.UUID("created_by", uuid.UUID{}).Optional().Nillable(),
	}
}

func (Template) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name", "version").Unique(),
		// Only one active version per name.
		index.Fields("name").Unique().Annotations(entsql.IndexWhere("(status)::text = 'active'::text")).StorageKey("template_one_active_per_name"),
	}
}
