package policy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/autoapprovalpolicy"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/template"
)

// Request is what a policy is matched against: a VM create request as submitted.
type Request struct {
	Environment  string
	NamespaceID  uuid.UUID
	SystemID     uuid.UUID
	ServiceID    uuid.UUID
	Size         *ent.InstanceSize
	TemplateName string
	// Roles are the names of the requester's roles that hold in the request's environment.
	Roles  []string
	DiskGB int
}

// Matches reports whether policy p's conditions cover request r, and if not the first
// condition that failed (for the dry run). Daily limits and catalogue warnings are
// checked elsewhere: they need the database.
func Matches(p *ent.AutoApprovalPolicy, r Request) (bool, string) {
	switch {
	case !slices.Contains(p.Environments, r.Environment):
		return false, "environment " + r.Environment
	case r.Environment == "prod" && !ProdConfirmed(p):
		return false, "prod not confirmed by a second platform admin"
	case len(p.NamespaceIds) > 0 && !slices.Contains(p.NamespaceIds, r.NamespaceID.String()):
		return false, "namespace"
	case len(p.SystemIds) > 0 && !slices.Contains(p.SystemIds, r.SystemID.String()):
		return false, "System"
	case len(p.ServiceIds) > 0 && !slices.Contains(p.ServiceIds, r.ServiceID.String()):
		return false, "Service"
	case r.Size == nil:
		return false, "size"
	case len(p.SizeIds) > 0 && !slices.Contains(p.SizeIds, r.Size.ID.String()):
		return false, "size " + r.Size.Name
	case p.StandardSizesOnly && (r.Size.DedicatedCPU || r.Size.RequiresGpu || len(r.Size.GpuDevices) > 0):
		return false, "size " + r.Size.Name + " has a GPU or dedicated CPU"
	case len(p.TemplateNames) > 0 && !slices.Contains(p.TemplateNames, r.TemplateName):
		return false, "template " + r.TemplateName
	case len(p.RequesterRoles) > 0 && !slices.ContainsFunc(r.Roles, func(role string) bool { return slices.Contains(p.RequesterRoles, role) }):
		return false, "requester's role"
	case p.MaxDiskGB > 0 && r.DiskGB > p.MaxDiskGB:
		return false, fmt.Sprintf("disk %d GB over %d GB", r.DiskGB, p.MaxDiskGB)
	}
	return true, ""
}

// ProdConfirmed reports whether a policy naming prod was confirmed by a platform admin
// other than the author of this version (four eyes).
func ProdConfirmed(p *ent.AutoApprovalPolicy) bool {
	return p.ProdConfirmedBy != nil && *p.ProdConfirmedBy != p.AuthorID
}

// Warnings lists catalogue entries a policy names that no longer exist or are out of
// service. A policy with warnings never matches: it would otherwise silently widen (a
// removed size no longer narrows it) or approve what nobody can request any more.
func Warnings(ctx context.Context, c *ent.Client, p *ent.AutoApprovalPolicy) ([]string, error) {
	var out []string
	for _, id := range p.SizeIds {
		uid, err := uuid.Parse(id)
		if err != nil {
			out = append(out, "An instance size it names no longer exists.")
			continue
		}
		s, err := c.InstanceSize.Query().Where(instancesize.ID(uid)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			out = append(out, "An instance size it names no longer exists.")
		case err != nil:
			return nil, err
		case !s.Enabled:
			out = append(out, "Instance size "+s.Name+" is disabled.")
		}
	}
	for _, name := range p.TemplateNames {
		n, err := c.Template.Query().Where(template.Name(name), template.StatusEQ(template.StatusActive)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			out = append(out, "Template "+name+" has no active version.")
		}
	}
	return out, nil
}

// Choice is the outcome of matching a request against the current policies.
type Choice struct {
	// Policy is the matching policy of highest priority; nil when none matched.
	Policy *ent.AutoApprovalPolicy
	// Note says why the matching policy may not approve (a daily limit); empty when it may.
	Note string
}

// Choose finds the enabled current policy of highest priority that matches r, inside
// the submit transaction. It locks that policy's row, so concurrent submits matching the
// same policy count its daily limits one after another and exactly the limit is admitted.
func Choose(ctx context.Context, tx *ent.Client, r Request, requesterID uuid.UUID, now time.Time) (*Choice, error) {
	sw, err := tx.AutoApprovalSwitch.Query().First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if sw != nil && sw.AllOff {
		return &Choice{}, nil
	}
	current, err := tx.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.SupersededAtIsNil(), autoapprovalpolicy.Enabled(true)).
		Order(ent.Desc(autoapprovalpolicy.FieldPriority)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range current {
		if ok, _ := Matches(p, r); !ok {
			continue
		}
		if w, err := Warnings(ctx, tx, p); err != nil {
			return nil, err
		} else if len(w) > 0 {
			continue
		}
		// Re-read under the lock: an edit or a disable that committed meanwhile wins.
		locked, err := tx.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.ID(p.ID)).ForUpdate().Only(ctx)
		if err != nil {
			return nil, err
		}
		if locked.SupersededAt != nil || !locked.Enabled {
			continue
		}
		note, err := limitNote(ctx, tx, locked, requesterID, r.SystemID, now)
		if err != nil {
			return nil, err
		}
		return &Choice{Policy: locked, Note: note}, nil
	}
	return &Choice{}, nil
}

// limitNote counts what the policy (all its versions) approved in the last 24 hours.
func limitNote(ctx context.Context, tx *ent.Client, p *ent.AutoApprovalPolicy, requesterID, systemID uuid.UUID, now time.Time) (string, error) {
	since := now.Add(-24 * time.Hour)
	if p.MaxPerRequesterPerDay > 0 {
		n, err := tx.ApprovalTicket.Query().Where(approvalticket.DecidedByPolicyID(p.PolicyID), approvalticket.DecidedAtGT(since),
			approvalticket.RequesterID(requesterID)).Count(ctx)
		if err != nil {
			return "", err
		}
		if n >= p.MaxPerRequesterPerDay {
			return fmt.Sprintf("Policy %s (v%d) matched, but it already approved %d VMs for this requester in the last 24 hours (its limit).", p.Name, p.Version, n), nil
		}
	}
	if p.MaxPerSystemPerDay > 0 {
		n, err := tx.ApprovalTicket.Query().Where(approvalticket.DecidedByPolicyID(p.PolicyID), approvalticket.DecidedAtGT(since),
			approvalticket.SystemID(systemID)).Count(ctx)
		if err != nil {
			return "", err
		}
		if n >= p.MaxPerSystemPerDay {
			return fmt.Sprintf("Policy %s (v%d) matched, but it already approved %d VMs for this System in the last 24 hours (its limit).", p.Name, p.Version, n), nil
		}
	}
	return "", nil
}

// Label is how pages and approver_name name a policy version: "policy NAME (vN)".
func Label(name string, version int) string { return fmt.Sprintf("policy %s (v%d)", name, version) }
