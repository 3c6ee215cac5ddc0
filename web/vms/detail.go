package vms

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/history"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

// detail is the VM page; VMs the user may not see answer 404.
func (h *Handler) detail(c echo.Context) error {
	v, err := h.visibleVM(c)
	if err != nil {
		return err
	}
	d, err := h.detailModel(c, v)
	if err != nil {
		return err
	}
	return page.OK(c, vmsview.DetailPage(h.Kit.Layout(c, v.Name, "vms"), d))
}

func (h *Handler) detailModel(c echo.Context, v *ent.VM) (vmsview.Detail, error) {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	names, err := h.names(ctx, []*ent.VM{v})
	if err != nil {
		return vmsview.Detail{}, err
	}
	d := vmsview.Detail{Row: vmsview.Row{ID: v.ID.String(), Name: v.Name, System: names[v.SystemID], Service: names[v.ServiceID],
		Namespace: v.NamespaceName, Env: string(v.Environment), Status: string(v.Status), Size: v.InstanceSizeName,
		Cluster: names[v.ClusterID], Created: views.Timestamp(v.CreatedAt), Age: views.Ago(v.CreatedAt)},
		ServiceURL: "/services/" + v.ServiceID.String(), SystemURL: "/systems/" + v.SystemID.String(),
		TicketURL: "/requests/" + v.TicketID.String(), StorageClass: v.StorageClass, StatusMessage: v.StatusMessage,
		Disk: fmt.Sprintf("%d GB", v.DiskGB), HistoryTab: c.QueryParam("tab") == "history"}
	if d.Live, err = h.live(c, v, names[v.ClusterID]); err != nil {
		return d, err
	}
	if t, err := client.ApprovalTicket.Get(ctx, v.TicketID); err == nil {
		d.Resources = fmt.Sprintf("CPU %s (request %s), memory %s (request %s)", t.FinalCPULimit, t.FinalCPURequest, t.FinalMemLimit, t.FinalMemRequest)
	}
	if tp, err := client.Template.Get(ctx, v.TemplateID); err == nil {
		d.Template = fmt.Sprintf("%s v%d", tp.Name, tp.Version)
	}
	if !d.HistoryTab {
		tickets, err := client.ApprovalTicket.Query().Where(approvalticket.Or(approvalticket.ID(v.TicketID), approvalticket.VMID(v.ID))).
			Order(ent.Desc(approvalticket.FieldCreatedAt)).Limit(20).All(ctx)
		if err != nil {
			return d, err
		}
		for _, t := range tickets {
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
