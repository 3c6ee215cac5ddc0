package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/template"
)

// Queries for the request and approval forms. They take the Ent client to read with
// (the store's, or a transaction's when the caller is inside a use case) and never
// write. None of them checks permissions: the calling use case decides who may see what.

// ActiveTemplates lists the one active version of every template name, by name: the
// only versions a new request may choose (drafts, deprecated and archived never are).
func ActiveTemplates(ctx context.Context, client *ent.Client) ([]*ent.Template, error) {
	return client.Template.Query().Where(template.StatusEQ(template.StatusActive)).
		Order(ent.Asc(template.FieldName)).All(ctx)
}

// EnabledSizes lists the sizes users may pick, in the admin's sort order, then by name.
func EnabledSizes(ctx context.Context, client *ent.Client) ([]*ent.InstanceSize, error) {
	return client.InstanceSize.Query().Where(instancesize.Enabled(true)).
		Order(ent.Asc(instancesize.FieldSortOrder), ent.Asc(instancesize.FieldName)).All(ctx)
}

// EnabledNamespaces lists enabled namespaces whose environment is in envs (typically
// the user's allowed environments for vm:create), by name. No envs means none.
func EnabledNamespaces(ctx context.Context, client *ent.Client, envs []string) ([]*ent.Namespace, error) {
	var want []namespace.Environment
	for _, e := range envs {
		if e == "test" || e == "prod" {
			want = append(want, namespace.Environment(e))
		}
	}
	if len(want) == 0 {
		return []*ent.Namespace{}, nil
	}
	return client.Namespace.Query().Where(namespace.Enabled(true), namespace.EnvironmentIn(want...)).
		Order(ent.Asc(namespace.FieldName)).All(ctx)
}

// EligibleClusters lists the clusters a VM of size in environment env may be placed on:
// enabled, HEALTHY, same environment, and offering every capability the size needs
// (each GPU device name, the hugepage size, dedicated CPU). Best first: scheduling
// weight descending, then name. A nil size matches on environment and health only.
func EligibleClusters(ctx context.Context, client *ent.Client, env string, size *ent.InstanceSize) ([]*ent.Cluster, error) {
	if env != "test" && env != "prod" {
		return []*ent.Cluster{}, nil
	}
	all, err := client.Cluster.Query().Where(cluster.Enabled(true), cluster.StatusEQ(cluster.StatusHEALTHY),
		cluster.EnvironmentEQ(cluster.Environment(env))).
		Order(ent.Desc(cluster.FieldSchedulingWeight), ent.Asc(cluster.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	out := []*ent.Cluster{}
	for _, c := range all {
		if Supports(c, size) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Supports reports whether cluster c offers everything size needs; the approval form
// can use it to explain why a cluster is missing from the suggestions.
func Supports(c *ent.Cluster, size *ent.InstanceSize) bool {
	if size == nil {
		return true
	}
	for _, g := range size.GpuDevices {
		if !slices.Contains(c.GpuDevices, g.DeviceName) {
			return false
		}
	}
	if size.HugepagesSize != "" && !slices.Contains(c.Hugepages, size.HugepagesSize) {
		return false
	}
	return !size.DedicatedCPU || c.DedicatedCPU
}

// SizeLabel is how users see a size: "medium (4 cores, 8 GiB)", with a GPU hint when the
// size carries GPUs so nobody picks one by accident.
func SizeLabel(size *ent.InstanceSize) string {
	cores := "cores"
	if size.CPUCores == 1 {
		cores = "core"
	}
	label := fmt.Sprintf("%s (%d %s, %s GiB", size.Name, size.CPUCores, cores, FormatGiB(size.MemoryMib))
	if len(size.GpuDevices) > 0 {
		label += fmt.Sprintf(", %d GPU", len(size.GpuDevices))
	}
	return label + ")"
}

// Resources are the size's request and limit in Kubernetes quantity notation, e.g.
// ("500m", "2", "4Gi", "8Gi") or ("2", "2", "1536Mi", "1536Mi"). Without overcommit the
// request equals the limit (Guaranteed QoS); the limit is what users are shown.
func Resources(size *ent.InstanceSize) (cpuRequest, cpuLimit, memRequest, memLimit string) {
	cpuLimit, memLimit = CPUQuantity(size.CPUCores*1000), MemoryQuantity(size.MemoryMib)
	cpuRequest, memRequest = cpuLimit, memLimit
	if size.CPUOvercommit && size.CPURequestMillis > 0 {
		cpuRequest = CPUQuantity(size.CPURequestMillis)
	}
	if size.MemOvercommit && size.MemRequestMib > 0 {
		memRequest = MemoryQuantity(size.MemRequestMib)
	}
	return cpuRequest, cpuLimit, memRequest, memLimit
}

// SizeBadges names the special capabilities of a size ("GPU", "hugepages 2Mi",
// "dedicated CPU"), for lists and request cards.
func SizeBadges(size *ent.InstanceSize) []string {
	var out []string
	if len(size.GpuDevices) > 0 {
		names := make([]string, 0, len(size.GpuDevices))
		for _, g := range size.GpuDevices {
			names = append(names, g.DeviceName)
		}
		out = append(out, "GPU: "+strings.Join(names, ", "))
	}
	if size.HugepagesSize != "" {
		out = append(out, "hugepages "+size.HugepagesSize)
	}
	if size.DedicatedCPU {
		out = append(out, "dedicated CPU")
	}
	return out
}
