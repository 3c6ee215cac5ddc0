// Package vms is the VM area: the list of VMs the user may see.
package vms

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
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
	m, err := h.listModel(c)
	if err != nil {
		return err
	}
	return page.OK(c, vmsview.Rows(m))
}

func (h *Handler) listModel(c echo.Context) (vmsview.List, error) {
	ctx := c.Request().Context()
	q := c.QueryParams()
	p := page.Principal(c)
	f := governance.VMFilter{Environment: page.OneOf(q.Get("environment"), []string{"test", "prod"}), Status: page.OneOf(q.Get("status"), vmStatuses),
		Namespace: q.Get("namespace"), Page: page.PagingOf(q, paging.DefaultPerPage, paging.MaxPerPage)}
	f.SystemID, _ = uuid.Parse(q.Get("system"))
	f.ServiceID, _ = uuid.Parse(q.Get("service"))
	rows, total, err := h.Gov.VMs(ctx, p, f)
	if err != nil {
		return vmsview.List{}, err
	}
	names, err := h.names(ctx, rows)
	if err != nil {
		return vmsview.List{}, err
	}
	ids := make([]uuid.UUID, len(rows))
	for i, v := range rows {
		ids[i] = v.ID
	}
	busy, err := h.Gov.InFlightVMs(ctx, ids)
	if err != nil {
		return vmsview.List{}, err
	}
	m := vmsview.List{Pager: views.NewPager(f.Page, total, "/vms", q), CanRequest: p.Has(authz.VMCreate),
		RowsURL: "/vms/rows?" + q.Encode()}
	for _, v := range rows {
		m.Rows = append(m.Rows, vmsview.Row{ID: v.ID.String(), Name: v.Name, System: names[v.SystemID], Service: names[v.ServiceID],
			Namespace: v.NamespaceName, Env: string(v.Environment), Status: string(v.Status), Size: v.InstanceSizeName,
			Cluster: names[v.ClusterID], Created: views.Timestamp(v.CreatedAt), Age: views.Ago(v.CreatedAt)})
		m.Poll = m.Poll || governance.Transitional(v.Status) || busy[v.ID]
	}
	m.Envs = page.FilterOptions("Any environment", p.Environments(authz.VMRead), f.Environment)
	m.Statuses = page.FilterOptions("Any status", vmStatuses, f.Status)
	return m, nil
}

// names resolves the System, Service and cluster names of one page of VMs in three queries.
func (h *Handler) names(ctx context.Context, rows []*ent.VM) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	var sys, svc, cl []uuid.UUID
	for _, v := range rows {
		sys, svc, cl = append(sys, v.SystemID), append(svc, v.ServiceID), append(cl, v.ClusterID)
	}
	if len(rows) == 0 {
		return out, nil
	}
	client := h.Kit.Store.Ent
	systems, err := client.System.Query().Where(system.IDIn(sys...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range systems {
		out[s.ID] = s.Name
	}
	services, err := client.Service.Query().Where(service.IDIn(svc...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		out[s.ID] = s.Name
	}
	clusters, err := client.Cluster.Query().Where(cluster.IDIn(cl...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range clusters {
		out[s.ID] = s.Name
	}
	return out, nil
}
