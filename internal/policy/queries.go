package policy

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/autoapprovalpolicy"
)

// KillSwitch reports whether all policies are switched off.
func KillSwitch(ctx context.Context, c *ent.Client) (bool, error) {
	sw, err := c.AutoApprovalSwitch.Query().First(ctx)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sw.AllOff, nil
}

// KillSwitchChangedBy names who last turned the kill switch.
func (s *Service) KillSwitchChangedBy(ctx context.Context) (string, error) {
	sw, err := s.Store.Ent.AutoApprovalSwitch.Query().First(ctx)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return sw.ChangedByName, nil
}

// Current is a policy's current version.
func (s *Service) Current(ctx context.Context, policyID uuid.UUID) (*ent.AutoApprovalPolicy, error) {
	p, err := s.Store.Ent.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.PolicyID(policyID),
		autoapprovalpolicy.SupersededAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return p, err
}

// Versions lists every version of a policy, newest first.
func (s *Service) Versions(ctx context.Context, policyID uuid.UUID) ([]*ent.AutoApprovalPolicy, error) {
	return s.Store.Ent.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.PolicyID(policyID)).
		Order(ent.Desc(autoapprovalpolicy.FieldVersion)).All(ctx)
}

// Listed is a current policy with its catalogue warnings, for the admin list.
type Listed struct {
	Policy   *ent.AutoApprovalPolicy
	Warnings []string
}

// List returns the current version of every policy, highest priority first, and the kill switch.
func (s *Service) List(ctx context.Context) ([]Listed, bool, error) {
	ps, err := s.Store.Ent.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.SupersededAtIsNil()).
		Order(ent.Desc(autoapprovalpolicy.FieldPriority)).All(ctx)
	if err != nil {
		return nil, false, err
	}
	out := make([]Listed, 0, len(ps))
	for _, p := range ps {
		w, err := Warnings(ctx, s.Store.Ent, p)
		if err != nil {
			return nil, false, err
		}
		out = append(out, Listed{Policy: p, Warnings: w})
	}
	off, err := KillSwitch(ctx, s.Store.Ent)
	return out, off, err
}

// InputOf turns a stored version back into the form (to edit it or dry-run a change).
func InputOf(p *ent.AutoApprovalPolicy) Input {
	return Input{
		Name:                  p.Name,
		Description:           p.Description,
		Priority:              p.Priority,
		Environments:          p.Environments,
		NamespaceIDs:          p.NamespaceIds,
		SystemIDs:             p.SystemIds,
		ServiceIDs:            p.ServiceIds,
		SizeIDs:               p.SizeIds,
		StandardSizesOnly:     p.StandardSizesOnly,
		TemplateNames:         p.TemplateNames,
		RequesterRoles:        p.RequesterRoles,
		MaxDiskGB:             p.MaxDiskGB,
		MaxPerRequesterPerDay: p.MaxPerRequesterPerDay,
		MaxPerSystemPerDay:    p.MaxPerSystemPerDay,
	}
}

// Unsaved is the policy an Input describes, not stored: what the dry run matches with.
func Unsaved(in Input, authorID uuid.UUID) *ent.AutoApprovalPolicy {
	return &ent.AutoApprovalPolicy{
		Name:                  strings.TrimSpace(in.Name),
		Version:               1,
		Enabled:               true,
		Priority:              in.Priority,
		Environments:          in.Environments,
		NamespaceIds:          in.NamespaceIDs,
		SystemIds:             in.SystemIDs,
		ServiceIds:            in.ServiceIDs,
		SizeIds:               in.SizeIDs,
		StandardSizesOnly:     in.StandardSizesOnly,
		TemplateNames:         in.TemplateNames,
		RequesterRoles:        in.RequesterRoles,
		MaxDiskGB:             in.MaxDiskGB,
		MaxPerRequesterPerDay: in.MaxPerRequesterPerDay,
		MaxPerSystemPerDay:    in.MaxPerSystemPerDay,
		AuthorID:              authorID,
	}
}

// Snapshot is a version's content for audit rows (before/after).
func Snapshot(p *ent.AutoApprovalPolicy) map[string]any {
	return map[string]any{
		"version":                   p.Version,
		"name":                      p.Name,
		"enabled":                   p.Enabled,
		"priority":                  p.Priority,
		"environments":              p.Environments,
		"namespace_ids":             p.NamespaceIds,
		"system_ids":                p.SystemIds,
		"service_ids":               p.ServiceIds,
		"size_ids":                  p.SizeIds,
		"standard_sizes_only":       p.StandardSizesOnly,
		"template_names":            p.TemplateNames,
		"requester_roles":           p.RequesterRoles,
		"max_disk_gb":               p.MaxDiskGB,
		"max_per_requester_per_day": p.MaxPerRequesterPerDay,
		"max_per_system_per_day":    p.MaxPerSystemPerDay,
	}
}
