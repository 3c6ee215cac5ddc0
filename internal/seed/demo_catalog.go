package seed

import (
	"context"
	"fmt"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/db"
)

// DemoNamespaces are the logical namespaces of the demo organisation.
var DemoNamespaces = []struct{ Name, Environment, Description string }{
	{"dev", "test", "Development: anything goes, VMs are short-lived."},
	{"qa", "test", "Integration and acceptance testing."},
	{"prod", "prod", "Production workloads. Requests always need approval."},
}

// DemoSizes cover the size shapes the spec talks about: plain, overcommitted,
// dedicated CPU and GPU.
var DemoSizes = []ent.InstanceSize{
	{Name: "small", DisplayName: "Small", Description: "Light services and tools.", CPUCores: 1, MemoryMib: 2048, SortOrder: 10},
	{Name: "medium", DisplayName: "Medium", Description: "General purpose; CPU is shared (request 1 core).",
		CPUCores: 2, MemoryMib: 4096, CPUOvercommit: true, CPURequestMillis: 1000, SortOrder: 20},
	{Name: "large", DisplayName: "Large", Description: "Memory-hungry applications.", CPUCores: 4, MemoryMib: 16384, SortOrder: 30},
	{Name: "dedicated-4", DisplayName: "Dedicated 4", Description: "Pinned CPUs for latency-sensitive work.",
		CPUCores: 4, MemoryMib: 8192, DedicatedCPU: true, SortOrder: 40},
	{Name: "gpu-a10", DisplayName: "GPU Workstation (8 cores 32GB)", Description: "One NVIDIA A10 GPU.",
		CPUCores: 8, MemoryMib: 32768, GpuDevices: []schema.GPUDevice{{Name: "gpu1", DeviceName: "nvidia.com/GA102GL_A10"}}, SortOrder: 50},
}

// demoCloudInit gives the image's default user a one-time password that must be
// changed at first login (the pattern of spec/domain §1.9).
const demoCloudInit = `#cloud-config
# The default user gets a one-time password; it must be changed at first login.
user: %s
password: changeme-at-first-login
chpasswd: {expire: true}
ssh_pwauth: true
`

// DemoTemplates are one active version each of Ubuntu and Rocky, and a Debian draft.
var DemoTemplates = []ent.Template{
	{Name: "ubuntu-24.04", Version: 1, Status: template.StatusActive, DisplayName: "Ubuntu 24.04 LTS", Category: "OS",
		Description: "Ubuntu Server 24.04 (Noble Numbat) cloud image.", SourceType: template.SourceTypeContainerdisk,
		Image: "quay.io/containerdisks/ubuntu:24.04", CloudInit: fmt.Sprintf(demoCloudInit, "ubuntu")},
	{Name: "rocky-9", Version: 1, Status: template.StatusActive, DisplayName: "Rocky Linux 9", Category: "OS",
		Description: "Rocky Linux 9 GenericCloud image, cloned from a golden PVC.", SourceType: template.SourceTypePvc,
		PvcNamespace: "os-images", PvcName: "rocky-9-golden", CloudInit: fmt.Sprintf(demoCloudInit, "rocky")},
	{Name: "debian-12", Version: 1, Status: template.StatusDraft, DisplayName: "Debian 12", Category: "OS",
		Description: "Debian 12 (bookworm) generic cloud image. Being prepared.", SourceType: template.SourceTypeContainerdisk,
		Image: "quay.io/containerdisks/debian:12", CloudInit: fmt.Sprintf(demoCloudInit, "debian")},
}

// DemoClusters are simulated clusters, healthy from the start.
var DemoClusters = []ent.Cluster{
	{Name: "sim-test-a", Environment: cluster.EnvironmentTest, SchedulingWeight: 100, StorageClasses: []string{"standard", "fast"},
		DefaultStorageClass: "standard", Hugepages: []string{"2Mi"}, DedicatedCPU: true},
	{Name: "sim-test-b", Environment: cluster.EnvironmentTest, SchedulingWeight: 50, StorageClasses: []string{"standard"},
		DefaultStorageClass: "standard", GpuDevices: []string{"nvidia.com/GA102GL_A10"}},
	{Name: "sim-prod-a", Environment: cluster.EnvironmentProd, SchedulingWeight: 100, StorageClasses: []string{"standard", "replicated"},
		DefaultStorageClass: "replicated", DedicatedCPU: true},
}

// DemoCatalog seeds namespaces, sizes, templates and simulated clusters. Entries that
// exist by name (templates by name and version) are left as the admin changed them.
func DemoCatalog(ctx context.Context, store *db.Store) error {
	return store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		c := tx.Ent
		for _, n := range DemoNamespaces {
			if err := ignoreNoRows(c.Namespace.Create().SetName(n.Name).SetEnvironment(namespace.Environment(n.Environment)).
				SetDescription(n.Description).OnConflictColumns(namespace.FieldName).DoNothing().Exec(ctx)); err != nil {
				return err
			}
		}
		for _, s := range DemoSizes {
			if err := ignoreNoRows(c.InstanceSize.Create().SetName(s.Name).SetDisplayName(s.DisplayName).SetDescription(s.Description).
				SetCPUCores(s.CPUCores).SetMemoryMib(s.MemoryMib).SetCPUOvercommit(s.CPUOvercommit).
				SetCPURequestMillis(s.CPURequestMillis).SetDedicatedCPU(s.DedicatedCPU).
				SetGpuDevices(orEmpty(s.GpuDevices)).SetRequiresGpu(len(s.GpuDevices) > 0).SetSortOrder(s.SortOrder).
				OnConflictColumns(instancesize.FieldName).DoNothing().Exec(ctx)); err != nil {
				return err
			}
		}
		for _, t := range DemoTemplates {
			exists, err := c.Template.Query().Where(template.Name(t.Name)).Exist(ctx)
			if err != nil || exists {
				if err != nil {
					return err
				}
				continue
			}
			if err := c.Template.Create().SetName(t.Name).SetVersion(t.Version).SetStatus(t.Status).SetDisplayName(t.DisplayName).
				SetCategory(t.Category).SetDescription(t.Description).SetSourceType(t.SourceType).SetImage(t.Image).
				SetPvcNamespace(t.PvcNamespace).SetPvcName(t.PvcName).SetCloudInit(t.CloudInit).Exec(ctx); err != nil {
				return err
			}
		}
		now := time.Now()
		for _, k := range DemoClusters {
			if err := ignoreNoRows(c.Cluster.Create().SetName(k.Name).SetEnvironment(k.Environment).SetProvider(cluster.ProviderSim).
				SetStatus(cluster.StatusHEALTHY).SetLastCheckedAt(now).SetSchedulingWeight(k.SchedulingWeight).
				SetStorageClasses(k.StorageClasses).SetDefaultStorageClass(k.DefaultStorageClass).
				SetGpuDevices(orEmpty(k.GpuDevices)).SetHugepages(orEmpty(k.Hugepages)).SetDedicatedCPU(k.DedicatedCPU).
				SetKubevirtVersion("v1.9.0").OnConflictColumns(cluster.FieldName).DoNothing().Exec(ctx)); err != nil {
				return err
			}
		}
		return nil
	})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
