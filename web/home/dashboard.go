package home

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/redirect"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) dashboard(c echo.Context) error {
	st := page.StateOf(c)
	p := st.Principal
	name := st.User.DisplayName
	if name == "" {
		name = st.User.Username
	}
	m := views.Dashboard{FirstName: strings.Fields(name + " ")[0], IsAdmin: p.IsPlatformAdmin() && h.Kit.JobsEnabled, JobsURL: page.JobsPrefix + "/"}
	for _, b := range p.Bindings {
		m.Roles = append(m.Roles, views.RoleBadge{Role: b.Role, Environments: b.Environments, Source: sourceLabel(b.Source)})
	}
	for _, ms := range p.Memberships {
		m.Systems = append(m.Systems, views.SystemSummary{Name: ms.SystemName, URL: "/systems/" + ms.SystemID.String(), Role: string(ms.Role)})
	}
	m.CanRequest = p.Has(authz.VMCreate)
	if p.Has(authz.ApprovalApprove) {
		n, oldest, err := governance.Waiting(c.Request().Context(), h.Kit.Store.Ent, p, st.User.ID)
		if err != nil {
			return err
		}
		m.Approver = &views.Waiting{Count: n}
		if oldest != nil {
			m.Approver.OldestAge = views.Span(time.Since(oldest.CreatedAt))
			m.Approver.OldestURL = "/approvals/" + oldest.ID.String()
			m.Approver.OldestWhat = strings.ToLower(views.TicketTypeLabel(string(oldest.Type))[:1]) + views.TicketTypeLabel(string(oldest.Type))[1:] + " for " + oldest.TargetName
		}
	}
	layout := h.Kit.Layout(c, "Dashboard", "dashboard")
	m.Unread = layout.Unread
	if err := h.recent(c, &m); err != nil {
		return err
	}
	m.Capabilities = capabilities(p)
	return page.OK(c, views.DashboardPage(layout, m))
}

// capabilities turns permissions into sentences a person understands.
func capabilities(p *authz.Principal) []views.Capability {
	type rule struct{ perm, title, detail string }
	rules := []rule{
		{authz.PlatformAdmin, "Administer the platform", "Clusters, namespaces, sizes, templates, roles, the audit log and the job queue."},
		{authz.ApprovalApprove, "Approve requests", "Decide VM requests: choose the cluster, storage class and template version."},
		{authz.VMCreate, "Request virtual machines", "In Systems where you are a member, owner or admin."},
		{authz.VMOperate, "Operate virtual machines", "Start, stop and restart VMs of your Systems."},
		{authz.VNCAccess, "Open VM consoles", "Reach a VM's screen in the browser."},
		{authz.SystemWrite, "Create Systems", "Organise services and VMs; you become the owner of what you create."},
		{authz.VMRead, "See virtual machines", "Of the Systems you belong to."},
	}
	var out []views.Capability
	for _, r := range rules {
		if !p.Has(r.perm) {
			continue
		}
		c := views.Capability{Title: r.title, Detail: r.detail}
		if r.perm != authz.PlatformAdmin {
			c.Environments = p.Environments(r.perm)
		}
		out = append(out, c)
		if r.perm == authz.PlatformAdmin {
			break // everything below is implied
		}
	}
	if len(out) == 0 {
		out = append(out, views.Capability{Title: "Nothing yet", Detail: "Ask a platform administrator to grant you a role."})
	}
	return out
}

func sourceLabel(s string) string {
	switch s {
	case "idp_mapping":
		return "from your identity-provider groups"
	case "seed":
		return "built in"
	default:
		return "granted by an administrator"
	}
}

// dashboardRows is how many VMs and notifications the dashboard shows.
const dashboardRows = 5

// recent adds the user's newest VMs and latest notifications to the dashboard.
func (h *Handler) recent(c echo.Context, m *views.Dashboard) error {
	ctx := c.Request().Context()
	st := page.StateOf(c)
	if st.Principal.Has(authz.VMRead) {
		m.CanSee = true
		vms, total, err := h.Gov.VMs(ctx, st.Principal, governance.VMFilter{Page: paging.Page{Number: 1, PerPage: dashboardRows}})
		if err != nil {
			return err
		}
		m.VMTotal, m.VMsCapped = total.Total, total.Capped
		for _, v := range vms {
			m.VMs = append(m.VMs, views.DashboardVM{
				Name:        v.Name,
				URL:         "/vms/" + v.ID.String(),
				Status:      v.Status,
				Environment: v.Environment,
				System:      v.System,
				SystemURL:   "/systems/" + v.SystemID.String(),
			})
		}
	}
	// The unread count came with the layout (the bell); one statement for the entries.
	notes, err := notify.Latest(ctx, h.Kit.Store.Ent, st.User.ID, dashboardRows)
	if err != nil {
		return err
	}
	for _, n := range notes {
		note := views.DashboardNote{Title: n.Title, At: n.CreatedAt, Read: n.ReadAt != nil}
		if n.Link != "" && redirect.LocalPath(n.Link) == n.Link {
			note.Link = n.Link
		}
		m.Notes = append(m.Notes, note)
	}
	return nil
}
