package governance

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
)

// ApproveInput is the approver's decision form.
type ApproveInput struct {
	TicketID     uuid.UUID
	ClusterID    uuid.UUID
	StorageClass string
	TemplateID   uuid.UUID // the chosen version of the requested template
	DiskGB       int
	// Override replaces the size's CPU/memory requests (overcommit); limits stay the size's.
	Override           bool
	CPURequestCores    string
	MemRequestGiB      string
	ModificationReason string
	// Namespace and ServiceID echo hidden fields; a change means a tampered form.
	Namespace string
	ServiceID string
}

// Plan is the effective spec an approval would produce, with what the approver must see.
type Plan struct {
	Cluster      *ent.Cluster
	Clusters     []*ent.Cluster // eligible ones, for the form
	Template     *ent.Template
	Versions     []*ent.Template
	Size         *ent.InstanceSize
	StorageClass string
	DiskGB       int
	CPURequest   string
	CPULimit     string
	MemRequest   string
	MemLimit     string
	Overcommit   bool
	Warnings     []string
	Errors       domain.FieldErrors
}

// Blocked reports errors that disable Approve.
func (p *Plan) Blocked() bool { return len(p.Errors) > 0 }

// Spec is the full effective spec stored as modified_spec (a replacement, never merged).
func (p *Plan) Spec(t *ent.ApprovalTicket) map[string]any {
	return map[string]any{
		"service_id": t.ServiceID.String(), "namespace": t.NamespaceName,
		"template_id": p.Template.ID.String(), "template": p.Template.Name, "template_version": p.Template.Version,
		"instance_size": p.Size.Name, "disk_gb": p.DiskGB, "storage_class": p.StorageClass,
		"cpu_request": p.CPURequest, "cpu_limit": p.CPULimit, "memory_request": p.MemRequest, "memory_limit": p.MemLimit,
	}
}

// PlanApproval computes the effective spec for a pending create ticket and the approver's
// choices. Empty choices take defaults (first eligible cluster, its default storage class,
// the requested template version, the requested disk).
func (s *Service) PlanApproval(ctx context.Context, t *ent.ApprovalTicket, in ApproveInput) (*Plan, error) {
	return planApproval(ctx, s.Store.Ent, t, in)
}

// planApproval reads through client: the store's, or an auto-approval's transaction.
func planApproval(ctx context.Context, client *ent.Client, t *ent.ApprovalTicket, in ApproveInput) (*Plan, error) {
	p := &Plan{Errors: domain.FieldErrors{}}
	if t.InstanceSizeID == nil || t.TemplateID == nil {
		return nil, fmt.Errorf("ticket %s has no size or template", t.ID)
	}
	size, err := client.InstanceSize.Get(ctx, *t.InstanceSizeID)
	if err != nil {
		return nil, err
	}
	p.Size = size
	requested, err := client.Template.Get(ctx, *t.TemplateID)
	if err != nil {
		return nil, err
	}
	p.Versions, err = client.Template.Query().Where(template.Name(requested.Name),
		template.StatusIn(template.StatusActive, template.StatusDeprecated)).Order(ent.Desc(template.FieldVersion)).All(ctx)
	if err != nil {
		return nil, err
	}
	p.Template = requested
	if in.TemplateID != uuid.Nil {
		i := slices.IndexFunc(p.Versions, func(v *ent.Template) bool { return v.ID == in.TemplateID })
		if i < 0 {
			p.Errors.Add("template_id", "Choose an active or deprecated version of "+requested.Name+".")
		} else {
			p.Template = p.Versions[i]
		}
	} else if requested.Status != template.StatusActive && requested.Status != template.StatusDeprecated {
		p.Errors.Add("template_id", "The requested template version is no longer available; choose another version.")
	}

	p.Clusters, err = catalog.EligibleClusters(ctx, client, string(t.Environment), size)
	if err != nil {
		return nil, err
	}
	switch {
	case in.ClusterID != uuid.Nil:
		i := slices.IndexFunc(p.Clusters, func(c *ent.Cluster) bool { return c.ID == in.ClusterID })
		if i < 0 {
			p.Errors.Add("cluster_id", fmt.Sprintf("That cluster cannot take this VM: it must be healthy, in %s, and support the size.", t.Environment))
		} else {
			p.Cluster = p.Clusters[i]
		}
	case len(p.Clusters) > 0:
		p.Cluster = p.Clusters[0]
	default:
		p.Errors.Add("cluster_id", fmt.Sprintf("No healthy %s cluster supports this size. Reject the request or ask an admin to add capacity.", t.Environment))
	}
	if p.Cluster != nil {
		p.StorageClass = strings.TrimSpace(in.StorageClass)
		if p.StorageClass == "" {
			p.StorageClass = p.Cluster.DefaultStorageClass
		}
		if p.StorageClass != "" && !slices.Contains(p.Cluster.StorageClasses, p.StorageClass) {
			p.Errors.Add("storage_class", "Choose a storage class of "+p.Cluster.Name+".")
		}
	}

	p.DiskGB = in.DiskGB
	if p.DiskGB == 0 {
		p.DiskGB, _ = intParam(t.RequestParams, "disk_gb")
	}
	if p.DiskGB < size.DiskMinGB || p.DiskGB > size.DiskMaxGB {
		p.Errors.Add("disk_gb", fmt.Sprintf("Disk must be between %d and %d GB.", size.DiskMinGB, size.DiskMaxGB))
	}

	p.CPURequest, p.CPULimit, p.MemRequest, p.MemLimit = catalog.Resources(size)
	if in.Override {
		cpuMillis, err1 := catalog.ParseCores(in.CPURequestCores)
		memMiB, err2 := catalog.ParseGiB(in.MemRequestGiB)
		if err1 != nil || cpuMillis <= 0 || cpuMillis > size.CPUCores*1000 {
			p.Errors.Add("cpu_request", fmt.Sprintf("CPU request must be more than 0 and at most the limit (%d cores).", size.CPUCores))
		} else {
			p.CPURequest = catalog.CPUQuantity(cpuMillis)
		}
		if err2 != nil || memMiB <= 0 || memMiB > size.MemoryMib {
			p.Errors.Add("memory_request", fmt.Sprintf("Memory request must be more than 0 and at most the limit (%s).", p.MemLimit))
		} else {
			p.MemRequest = catalog.MemoryQuantity(memMiB)
		}
	}
	p.Overcommit = p.CPURequest != p.CPULimit || p.MemRequest != p.MemLimit
	if p.Overcommit && size.DedicatedCPU {
		p.Errors.Add("cpu_request", "Dedicated CPU placement needs request = limit: remove the overcommit.")
	}
	if p.Overcommit && t.Environment == "prod" {
		p.Warnings = append(p.Warnings, "Overcommit in production: this VM may be throttled or evicted under memory pressure.")
	}
	if size.RequiresGpu {
		p.Warnings = append(p.Warnings, "This size includes a GPU; check the reason justifies it.")
	}
	if p.Template.Status == template.StatusDeprecated {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s v%d is deprecated; a newer version exists.", p.Template.Name, p.Template.Version))
	}
	return p, nil
}

func intParam(m map[string]any, k string) (int, bool) {
	switch v := m[k].(type) {
	case float64:
		return int(v), true
	case int:
		return v, true
	}
	return 0, false
}
