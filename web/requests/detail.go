package requests

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) detail(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := h.Gov.TicketFor(ctx, who(c), id)
	if err != nil {
		return notFoundOr(err)
	}
	d, err := h.DetailModel(c, t)
	if err != nil {
		return err
	}
	return page.OK(c, requestsview.DetailPage(h.Kit.Layout(c, "Request "+d.ShortID, "requests"), d))
}

// DetailModel turns a ticket into its page: facts, decision, and a timeline of steps.
func (h *Handler) DetailModel(c echo.Context, t *ent.ApprovalTicket) (requestsview.Detail, error) {
	ctx := c.Request().Context()
	u, p := page.User(c), page.Principal(c)
	d := requestsview.Detail{Row: h.row(t), Reason: t.Reason, DecisionReason: t.DecisionReason, Approver: t.ApproverName,
		ErrorMessage: t.ErrorMessage, AutoNote: t.AutoApprovalNote}
	if t.DecidedByPolicyID != nil {
		d.AutoPolicy = t.ApproverName
	}
	if t.BatchID != nil {
		b, err := h.Kit.Store.Ent.TicketBatch.Get(ctx, *t.BatchID)
		if err != nil {
			return d, err
		}
		d.BatchLink, d.BatchWords = "/batches/"+b.ID.String(), fmt.Sprintf("Part of a request for %d VMs", b.ChildCount)
	}
	if v, ok := t.RequestParams["disk_gb"].(float64); ok {
		d.DiskGB = int(v)
	}
	if t.FinalDiskGB > 0 {
		d.DiskGB = t.FinalDiskGB
	}
	rel, ok := governance.RelatedOf(t)
	if !ok {
		var err error
		if rel, err = h.related(c, t); err != nil {
			return d, err
		}
	}
	if rel.Size != nil {
		d.Size = catalog.SizeLabel(rel.Size)
	}
	if rel.Template != nil {
		d.Template = fmt.Sprintf("%s v%d", rel.Template.Name, rel.Template.Version)
	}
	vmRunning := false
	if t.VMID != nil {
		if v := rel.VM; v != nil {
			vmRunning = v.Status == vm.StatusRUNNING
			d.VMName, d.VMID, d.StorageClass = v.Name, v.ID.String(), v.StorageClass
			if ok, err := h.Gov.CanReadVM(ctx, p, u.ID, v); err != nil {
				return d, err
			} else if ok {
				d.VMURL = "/vms/" + v.ID.String()
			}
			d.Cluster = rel.Cluster
		}
		d.Final = fmt.Sprintf("CPU %s (request %s), memory %s (request %s), disk %d GB", t.FinalCPULimit, t.FinalCPURequest, t.FinalMemLimit, t.FinalMemRequest, t.FinalDiskGB)
	}
	d.IsCreate = t.Type == approvalticket.TypeVM_CREATE
	if p.Check(authz.ServiceRead, authz.View, t.SystemID, "") == authz.Allow {
		d.ServiceURL = "/services/" + t.ServiceID.String()
	}
	d.Poll = governance.InFlight(t)
	pending := t.Status == approvalticket.StatusPENDING_APPROVAL
	d.CanCancel = pending && (t.RequesterID == u.ID || p.Check(authz.VMCreate, authz.Update, t.SystemID, string(t.Environment)) == authz.Allow)
	d.CanDecide = pending && t.RequesterID != u.ID && p.HasIn(authz.ApprovalApprove, string(t.Environment))
	d.Steps = steps(t)
	if t.Type == approvalticket.TypeVM_CREATE && t.Status == approvalticket.StatusEXECUTING && vmRunning {
		finishing(d.Steps)
	}
	for i := range d.Steps {
		if d.Steps[i].State == "failed" && t.Status == approvalticket.StatusFAILED {
			d.Steps[i].Hint = kube.Hint(t.ErrorCode, t.NamespaceName, d.Cluster)
			if d.Steps[i].Detail == d.ErrorMessage {
				d.ErrorMessage = "" // the failed step says it, with the hint; once is enough
			}
		}
	}
	if t.Type == approvalticket.TypeVNC_ACCESS {
		if err := h.consoleDetail(c, t, &d); err != nil {
			return d, err
		}
	}
	return d, nil
}

// status is the timeline alone, polled by the request page while the ticket executes.
func (h *Handler) status(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	t, err := h.Gov.TicketFor(c.Request().Context(), who(c), id)
	if err != nil {
		return notFoundOr(err)
	}
	d, err := h.DetailModel(c, t)
	if err != nil {
		return err
	}
	d.OOB = true
	return page.OK(c, requestsview.Live(d))
}

// related reads the rows a request page shows beside a ticket loaded without them.
func (h *Handler) related(c echo.Context, t *ent.ApprovalTicket) (governance.Related, error) {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	var rel governance.Related
	if t.InstanceSizeID != nil {
		rel.Size, _ = client.InstanceSize.Get(ctx, *t.InstanceSizeID)
	}
	tplID := t.TemplateID
	if t.SelectedTemplateID != nil {
		tplID = t.SelectedTemplateID
	}
	if tplID != nil {
		rel.Template, _ = client.Template.Get(ctx, *tplID)
	}
	if t.VMID != nil {
		if v, err := client.VM.Get(ctx, *t.VMID); err == nil {
			rel.VM = v
			if cl, err := client.Cluster.Get(ctx, v.ClusterID); err == nil {
				rel.Cluster = cl.Name
			}
		}
	}
	return rel, nil
}

// steps is the request's progress as a person reads it: submission, the decision, then
// the execution steps the worker records (planned ones still to come are greyed).
func steps(t *ent.ApprovalTicket) []requestsview.Step {
	out := []requestsview.Step{{Title: "Submitted", Detail: "by " + t.RequesterName, When: views.Timestamp(t.CreatedAt), State: "done"}}
	when := ""
	if t.DecidedAt != nil {
		when = views.Timestamp(*t.DecidedAt)
	}
	switch t.Status {
	case approvalticket.StatusPENDING_APPROVAL:
		out = append(out, requestsview.Step{Title: "Waiting for approval", State: "current"})
		for _, p := range governance.Progress(t) {
			out = append(out, requestsview.Step{Title: p.Label, State: "pending"})
		}
	case approvalticket.StatusREJECTED:
		out = append(out, requestsview.Step{Title: "Rejected", Detail: t.DecisionReason, When: when, State: "failed"})
	case approvalticket.StatusCANCELLED:
		out = append(out, requestsview.Step{Title: "Cancelled", Detail: t.DecisionReason, When: when, State: "failed"})
	default:
		approved := requestsview.Step{Title: "Approved", Detail: "by " + t.ApproverName, When: when, State: "done"}
		if t.ApproverName == governance.AutoApprover {
			approved.Title, approved.Detail = "Approved automatically", "test environment: no approval needed"
		}
		if t.DecidedByPolicyID != nil {
			approved.Title, approved.Detail = "Approved automatically", "by "+t.ApproverName
		}
		out = append(out, approved)
		for _, p := range governance.Progress(t) {
			s := requestsview.Step{Title: p.Label, Detail: p.Message, State: timelineState(p.State)}
			if !p.At.IsZero() {
				s.When = p.At.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			out = append(out, s)
		}
	}
	return out
}

// finishing words the step in progress of a creation whose VM already runs (status sync
// saw it before the worker recorded the outcome): the page must not contradict the VM.
func finishing(steps []requestsview.Step) {
	for i := range steps {
		if steps[i].State == "current" || (steps[i].State == "pending" && (i == 0 || steps[i-1].State == "done")) {
			steps[i].Title, steps[i].State = "Running — finishing", "current"
			steps[i].Detail = "The VM runs; the worker is recording the outcome."
			return
		}
	}
}

// timelineState maps progress states to the timeline's classes.
func timelineState(s string) string {
	if s == governance.ProgressRunning {
		return "current"
	}
	return s
}

func (h *Handler) cancel(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = h.Gov.Cancel(c.Request().Context(), who(c), id, c.FormValue("reason"))
	var de *domain.Error
	switch {
	case err == nil:
		page.Flash(c, "success", "The request was cancelled.")
	case errors.As(err, &de) && de.Code == domain.CodeNotFound:
		return echo.NewHTTPError(http.StatusNotFound)
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &de):
		page.Flash(c, "error", de.Message)
	default:
		return err
	}
	return page.Redirect(c, "/requests/"+id.String())
}
