package vms

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/history"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

// detail is the VM page; VMs the user may not see answer 404.
func (h *Handler) detail(c echo.Context) error {
	v, names, err := h.visibleVM(c)
	if err != nil {
		return err
	}
	d, err := h.detailModel(c, v, names)
	if err != nil {
		return err
	}
	return page.OK(c, vmsview.DetailPage(h.Kit.Layout(c, v.Name, "vms"), d))
}

func (h *Handler) detailModel(c echo.Context, v *ent.VM, names governance.VMNames) (vmsview.Detail, error) {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	tickets, err := h.Gov.TicketsOfVM(ctx, v, paging.DefaultPerPage)
	if err != nil {
		return vmsview.Detail{}, err
	}
	d := vmsview.Detail{Row: vmsview.Row{ID: v.ID.String(), Name: v.Name, System: names.System, Service: names.Service,
		Namespace: v.NamespaceName, Env: string(v.Environment), Status: string(v.Status), Size: v.InstanceSizeName,
		Cluster: names.Cluster, Created: views.Timestamp(v.CreatedAt), Age: views.Ago(v.CreatedAt)},
		ServiceURL: "/services/" + v.ServiceID.String(), SystemURL: "/systems/" + v.SystemID.String(),
		TicketURL: "/requests/" + v.TicketID.String(), StorageClass: v.StorageClass, StatusMessage: v.StatusMessage,
		Disk: fmt.Sprintf("%d GB", v.DiskGB), HistoryTab: c.QueryParam("tab") == "history"}
	d.Live = h.live(c, v, names.Cluster, tickets.Latest, tickets.Pending)
	if t := tickets.Creation; t != nil {
		d.Resources = fmt.Sprintf("CPU %s (request %s), memory %s (request %s)", t.FinalCPULimit, t.FinalCPURequest, t.FinalMemLimit, t.FinalMemRequest)
	}
	d.Template = names.Template
	if !d.HistoryTab {
		for _, t := range tickets.Recent {
			d.Requests = append(d.Requests, vmsview.TicketLink{URL: "/requests/" + t.ID.String(), ShortID: t.ID.String()[:8], Type: string(t.Type),
				Status: string(t.Status), Requester: t.RequesterName, Age: views.Ago(t.CreatedAt), Created: views.Timestamp(t.CreatedAt)})
		}
	}
	if d.HistoryTab {
		tickets, err := client.ApprovalTicket.Query().Where(approvalticket.Or(approvalticket.ID(v.TicketID), approvalticket.VMID(v.ID))).IDs(ctx)
		if err != nil {
			return d, err
		}
		var ids []string
		for _, t := range tickets {
			ids = append(ids, t.String())
		}
		pg := page.Paging(c, paging.DefaultPerPage, paging.MaxPerPage)
		rows, total, err := audit.ListForVM(ctx, client, v.ID.String(), ids, pg)
		if err != nil {
			return d, err
		}
		for _, r := range rows {
			d.History = append(d.History, history.NewRow(r.CreatedAt, r.ActorName, r.Action, r.Details))
		}
		d.Pager = views.NewPager(pg, total, "/vms/"+v.ID.String(), c.QueryParams())
	}
	return d, nil
}
