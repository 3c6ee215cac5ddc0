package systems

import (
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/history"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// showSystem is GET /systems/:id (?tab=history).
func (h *Handler) showSystem(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return h.renderSystem(c, http.StatusOK, id, tabParam(c), pageParam(c), systemsview.DeleteForm{})
}

// renderSystem draws the System page; a refused delete re-renders it with the danger zone open.
func (h *Handler) renderSystem(c echo.Context, status int, id uuid.UUID, tab systems.Tab, pg paging.Page, del systemsview.DeleteForm) error {
	d, err := h.Systems.GetSystem(c.Request().Context(), page.Principal(c), id, tab, pg)
	if err != nil {
		return httpError(err)
	}
	base := systemURL(id)
	m := systemsview.SystemPage{ID: id.String(), Name: d.System.Name, URL: base,
		DescriptionHTML: markdown.Render(d.System.Description), CreatedBy: d.CreatedBy, CreatedAt: d.System.CreatedAt,
		MyRole: d.MyRole, History: tab == systems.TabHistory, Delete: del,
		Rights: systemsview.Rights{Edit: d.Rights.Edit, Delete: d.Rights.Delete, CreateService: d.Rights.CreateService,
			ManageMembers: d.Rights.ManageMembers},
		Owner: d.Members.Owner, MembersTotal: d.Members.Total}
	for _, role := range []string{"owner", "admin", "member", "viewer"} {
		if n := d.Members.Counts[role]; n > 0 {
			m.Roles = append(m.Roles, systemsview.RoleCount{Role: role, Count: n})
		}
	}
	if m.History {
		m.HistoryRows = historyRows(d.History)
		m.HistoryPager = views.NewPager(d.Page, d.HistoryTotal, base, url.Values{"tab": {string(systems.TabHistory)}})
	} else {
		for _, s := range d.Services {
			m.Services = append(m.Services, systemsview.ServiceRow{URL: serviceURL(s.ID), Name: s.Name, Excerpt: s.Excerpt,
				VMs: s.VMs, VMsCapped: s.VMsCapped, CreatedAt: s.CreatedAt})
		}
		m.ServicesPager = views.NewPager(d.Page, d.ServicesTotal, base, nil)
	}
	title := "System " + d.System.Name
	return page.Render(c, status, systemsview.SystemDetail(h.Kit.Layout(c, title, "systems"), m))
}

// historyRows turns audit rows into the History tab's rows.
func historyRows(rows []*ent.AuditLog) []history.Row {
	out := make([]history.Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, history.NewRow(r.CreatedAt, r.ActorName, r.Action, r.Details))
	}
	return out
}
