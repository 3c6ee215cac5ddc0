package admin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/policy"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) policyPage(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := h.loadPolicy(c)
	if err != nil {
		return err
	}
	versions, err := h.Policies.Versions(ctx, p.PolicyID)
	if err != nil {
		return err
	}
	dr, err := h.Policies.DryRun(ctx, policyActor(c), p)
	if err != nil {
		return loadError(err)
	}
	opts, err := h.Policies.FormOptions(ctx)
	if err != nil {
		return err
	}
	m := adminview.PolicyPage{
		ID:          p.PolicyID.String(),
		Name:        p.Name,
		Description: p.Description,
		Version:     p.Version,
		Priority:    p.Priority,
		Enabled:     p.Enabled,
		Conditions:  conditions(p, opts),
		Prod:        slices.Contains(p.Environments, "prod"),
		Author:      p.AuthorName,
		Warnings:    dr.Warnings,
		DryRun:      dryRunView(dr),
	}
	if policy.ProdConfirmed(p) {
		m.ProdConfirmedBy = p.ProdConfirmedByName
	}
	for _, v := range versions {
		m.Versions = append(m.Versions, adminview.PolicyVersion{Version: v.Version, Author: v.AuthorName,
			Created: views.Timestamp(v.CreatedAt), Current: v.SupersededAt == nil})
	}
	return page.OK(c, adminview.PolicyDetailPage(h.Kit.Layout(c, "Policy "+p.Name, "admin"), h.nav(c, "policies"), m))
}

// conditions describes a policy in words, naming catalogue entries by their labels.
func conditions(p *ent.AutoApprovalPolicy, o *policy.Options) []adminview.Fact {
	names := func(ids []string, opts []policy.Option) string {
		if len(ids) == 0 {
			return "any"
		}
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			label := id + " (no longer available)"
			if i := slices.IndexFunc(opts, func(x policy.Option) bool { return x.Value == id }); i >= 0 {
				label = opts[i].Label
			}
			out = append(out, label)
		}
		return strings.Join(out, ", ")
	}
	limit := func(n int, unit string) string {
		if n == 0 {
			return "no limit"
		}
		return fmt.Sprintf("%d %s", n, unit)
	}
	sizes := names(p.SizeIds, o.Sizes)
	if p.StandardSizesOnly {
		sizes += "; only sizes without GPU or dedicated CPU"
	}
	return []adminview.Fact{
		{Label: "Environments", Value: strings.Join(p.Environments, ", ")},
		{Label: "Namespaces", Value: names(p.NamespaceIds, o.Namespaces)},
		{Label: "Systems", Value: names(p.SystemIds, o.Systems)},
		{Label: "Services", Value: names(p.ServiceIds, o.Services)},
		{Label: "Instance sizes", Value: sizes},
		{Label: "Templates", Value: names(p.TemplateNames, o.Templates)},
		{Label: "Requester's role", Value: names(p.RequesterRoles, o.Roles)},
		{Label: "Largest disk", Value: limit(p.MaxDiskGB, "GB")},
		{Label: "Per requester in 24 hours", Value: limit(p.MaxPerRequesterPerDay, "VMs")},
		{Label: "Per System in 24 hours", Value: limit(p.MaxPerSystemPerDay, "VMs")},
	}
}

func dryRunView(d *policy.DryRun) adminview.PolicyDryRun {
	v := adminview.PolicyDryRun{Matches: d.Matches, Warnings: d.Warnings}
	for _, r := range d.Rows {
		row := adminview.PolicyDryRunRow{
			TicketID:     r.TicketID.String(),
			Target:       r.Target,
			Requester:    r.Requester,
			Environment:  r.Environment,
			Spec:         fmt.Sprintf("%s, %s, %d GB in %s", r.Size, r.Template, r.DiskGB, r.Namespace),
			Status:       r.Status,
			WouldApprove: r.WouldApprove,
			Why:          "does not match: " + r.Mismatch,
		}
		if r.DecidedBy != "" {
			row.Decision = "by " + r.DecidedBy
		}
		if r.Reason != "" {
			row.Decision += ": " + r.Reason
		}
		if r.DecidedAt != nil {
			row.Decided = views.Ago(*r.DecidedAt)
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// policiesCard counts policies and the enabled ones, or says they are all switched off.
func (h *Handler) policiesCard(c echo.Context) (adminview.Card, error) {
	rows, allOff, err := h.Policies.List(c.Request().Context())
	if err != nil {
		return adminview.Card{}, err
	}
	enabled := 0
	for _, r := range rows {
		if r.Policy.Enabled {
			enabled++
		}
	}
	detail := fmt.Sprintf("%d enabled", enabled)
	if allOff {
		detail = "all switched off"
	}
	return adminview.Card{
		Key:         "policies",
		Title:       "Auto-approval",
		Href:        policiesPath,
		Count:       len(rows),
		Detail:      detail,
		Description: "Policies that approve routine VM requests when they are submitted.",
	}, nil
}
