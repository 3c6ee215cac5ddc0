// Package vms is the VM area: the list of VMs the user may see.
package vms

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the VM pages.
type Handler struct {
	Kit *page.Kit
	Gov *governance.Service
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	need := page.RequirePermission(authz.VMRead, "Seeing VMs needs the vm:read permission.")
	r.App(http.MethodGet, "/vms", h.list, need)
	r.App(http.MethodGet, "/vms/rows", h.rows, need, page.Unchanged)
	r.App(http.MethodGet, "/vms/:id", h.detail, need)
	r.App(http.MethodGet, "/vms/:id/status", h.status, need, page.Unchanged)
	r.App(http.MethodPost, "/vms/:id/power", h.power, need)
	r.App(http.MethodPost, "/vms/:id/delete", h.remove, need)
	r.App(http.MethodPost, "/vms/batch/power", h.batchPower, need,
		page.RequirePermission(authz.VMOperate, "Starting and stopping VMs needs the vm:operate permission."))
	r.App(http.MethodPost, "/vms/batch/delete", h.batchDelete, need,
		page.RequirePermission(authz.VMDelete, "Deleting VMs needs the vm:delete permission."))
}

var vmStatuses = []string{"CREATING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "RESTARTING", "DELETING", "FAILED", "UNKNOWN"}

func (h *Handler) list(c echo.Context) error {
	m, err := h.listModel(c)
	if err != nil {
		return err
	}
	return page.OK(c, vmsview.ListPage(h.Kit.Layout(c, "Virtual machines", "vms"), m))
}

// rows is the list's table body alone, polled while a VM on the page is changing.
func (h *Handler) rows(c echo.Context) error {
	m, err := h.listOf(c, true)
	if err != nil {
		return err
	}
	return page.OK(c, vmsview.Rows(m))
}

func (h *Handler) listModel(c echo.Context) (vmsview.List, error) {
	return h.listOf(c, false)
}

// listOf builds the list's view model; rowsOnly skips the count (the table body shows
// no pager).
func (h *Handler) listOf(c echo.Context, rowsOnly bool) (vmsview.List, error) {
	ctx := c.Request().Context()
	q := c.QueryParams()
	p := page.Principal(c)
	f := governance.VMFilter{
		Environment: page.OneOf(q.Get("environment"), []string{"test", "prod"}),
		Status:      page.OneOf(q.Get("status"), vmStatuses),
		Namespace:   q.Get("namespace"),
		Page:        page.PagingOf(q, paging.DefaultPerPage, paging.MaxPerPage),
		Keyset:      page.KeysetOf(q),
		NoCount:     rowsOnly,
	}
	f.SystemID, _ = uuid.Parse(q.Get("system"))
	f.ServiceID, _ = uuid.Parse(q.Get("service"))
	rows, w, err := h.Gov.VMs(ctx, p, f)
	if err != nil {
		return vmsview.List{}, err
	}
	m := vmsview.List{
		Pager:      views.NewWindowPager(w, len(rows), "/vms", q),
		CanRequest: p.Has(authz.VMCreate),
		RowsURL:    "/vms/rows?" + q.Encode(),
		CanOperate: p.Has(authz.VMOperate),
		CanDelete:  p.Has(authz.VMDelete),
		CSRF:       page.StateOf(c).CSRF,
		Back:       "/vms?" + q.Encode(),
		MaxPower:   governance.MaxBatchPower,
		MaxDelete:  governance.MaxBatchDelete,
	}
	for _, v := range rows {
		m.Rows = append(m.Rows, vmsview.Row{
			ID:        v.ID.String(),
			Name:      v.Name,
			System:    v.System,
			Service:   v.Service,
			Namespace: v.NamespaceName,
			Env:       v.Environment,
			Status:    v.Status,
			Size:      v.Size,
			Cluster:   v.Cluster,
			Created:   views.Timestamp(v.CreatedAt),
			Age:       views.Ago(v.CreatedAt),
		})
		m.Poll = m.Poll || governance.Transitional(vm.Status(v.Status)) || v.Busy
	}
	m.Envs = page.FilterOptions("Any environment", p.Environments(authz.VMRead), f.Environment)
	m.Statuses = page.FilterOptions("Any status", vmStatuses, f.Status)
	return m, nil
}
