package systems

import (
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// showService is GET /services/:id (?tab=history).
func (h *Handler) showService(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return h.renderService(c, http.StatusOK, id, tabParam(c), pageParam(c), "")
}

// renderService draws the Service page; a refused delete passes its message.
func (h *Handler) renderService(c echo.Context, status int, id uuid.UUID, tab systems.Tab, pg paging.Page, deleteErr string) error {
	d, err := h.Systems.GetService(c.Request().Context(), page.Principal(c), id, tab, pg)
	if err != nil {
		return httpError(err)
	}
	base := serviceURL(id)
	m := systemsview.ServicePage{ID: id.String(), Name: d.Service.Name, URL: base, SystemName: d.System.Name,
		SystemURL: systemURL(d.System.ID), DescriptionHTML: markdown.Render(d.Service.Description),
		CreatedAt: d.Service.CreatedAt, History: tab == systems.TabHistory, VMsHidden: d.VMsHidden,
		Rights:      systemsview.Rights{Edit: d.Rights.Edit, Delete: d.Rights.Delete, RequestVM: d.Rights.RequestVM},
		DeleteError: deleteErr, DeleteOpen: deleteErr != ""}
	if m.History {
		m.HistoryRows = historyRows(d.History)
		m.HistoryPager = views.NewPager(d.Page, d.HistoryTotal, base, url.Values{"tab": {string(systems.TabHistory)}})
	} else {
		for _, v := range d.VMs {
			m.VMs = append(m.VMs, systemsview.VMRow{ID: v.ID.String(), Name: v.Name, Namespace: v.NamespaceName, Environment: string(v.Environment),
				Status: string(v.Status), Size: v.InstanceSizeName, CreatedAt: v.CreatedAt})
		}
		m.VMsPager = views.NewPager(d.Page, d.VMsTotal, base, nil)
	}
	title := "Service " + d.Service.Name
	return page.Render(c, status, systemsview.ServiceDetail(h.Kit.Layout(c, title, "systems"), m))
}
