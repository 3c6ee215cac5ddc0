package approvals

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/web/page"
)

func ticketID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

// input reads the decision form (a missing field keeps its default).
func input(c echo.Context, id uuid.UUID) governance.ApproveInput {
	in := governance.ApproveInput{TicketID: id, StorageClass: c.FormValue("storage_class"), Override: c.FormValue("override") == "1",
		CPURequestCores: c.FormValue("cpu_request"), MemRequestGiB: c.FormValue("memory_request"),
		ModificationReason: c.FormValue("modification_reason"), Namespace: c.FormValue("namespace"), ServiceID: c.FormValue("service_id")}
	in.ClusterID, _ = uuid.Parse(c.FormValue("cluster_id"))
	in.TemplateID, _ = uuid.Parse(c.FormValue("template_id"))
	in.DiskGB, _ = strconv.Atoi(c.FormValue("disk_gb"))
	return in
}

func (h *Handler) load(c echo.Context) (*ent.ApprovalTicket, error) {
	id, err := ticketID(c)
	if err != nil {
		return nil, err
	}
	t, err := h.Gov.DecisionTicket(c.Request().Context(), who(c), id)
	if errors.Is(err, governance.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return t, err
}

// pageModel builds the whole approval page for ticket t with the approver's input.
func (h *Handler) pageModel(c echo.Context, t *ent.ApprovalTicket, in governance.ApproveInput) (approvalsview.Page, error) {
	d, err := h.Requests.DetailModel(c, t)
	if err != nil {
		return approvalsview.Page{}, err
	}
	m := approvalsview.Page{Request: d, Decided: t.Status != approvalticket.StatusPENDING_APPROVAL}
	u, p := page.User(c), page.Principal(c)
	m.CanAct = !m.Decided && t.RequesterID != u.ID && p.HasIn(authz.ApprovalApprove, string(t.Environment))
	if m.Decided && p.Has(authz.ApprovalApprove) {
		if m.NextURL, err = h.nextURL(c, t.ID); err != nil {
			return m, err
		}
	}
	switch t.Type {
	case approvalticket.TypeVM_CREATE:
	case approvalticket.TypeVNC_ACCESS:
		return h.consoleModel(c, t, m)
	default:
		return h.operationModel(c, t, m)
	}
	if !m.CanAct {
		return m, nil
	}
	plan, err := h.Gov.PlanApproval(c.Request().Context(), t, in)
	if err != nil {
		return m, err
	}
	m.Decision = decision(t, in, plan)
	return m, nil
}

func decision(t *ent.ApprovalTicket, in governance.ApproveInput, p *governance.Plan) approvalsview.Decision {
	d := approvalsview.Decision{TicketID: t.ID.String(), DiskGB: strconv.Itoa(p.DiskGB), DiskMin: p.Size.DiskMinGB, DiskMax: p.Size.DiskMaxGB,
		Override: in.Override, CPURequest: in.CPURequestCores, MemRequest: in.MemRequestGiB, CPULimit: p.CPULimit + " cores", MemLimit: p.MemLimit,
		Overcommit: p.Overcommit, Warnings: p.Warnings, Errors: p.Errors, Blocked: p.Blocked(),
		Namespace: t.NamespaceName, ServiceID: t.ServiceID.String()}
	for _, cl := range p.Clusters {
		label := fmt.Sprintf("%s (weight %d)", cl.Name, cl.SchedulingWeight)
		d.Clusters = append(d.Clusters, views.Option{Value: cl.ID.String(), Label: label, Selected: p.Cluster != nil && p.Cluster.ID == cl.ID})
	}
	if len(d.Clusters) == 0 {
		d.Clusters = []views.Option{{Value: "", Label: "No eligible cluster", Disabled: true, Selected: true}}
	}
	if p.Cluster != nil {
		for _, sc := range p.Cluster.StorageClasses {
			label := sc
			if sc == p.Cluster.DefaultStorageClass {
				label += " (default)"
			}
			d.StorageClasses = append(d.StorageClasses, views.Option{Value: sc, Label: label, Selected: sc == p.StorageClass})
		}
	}
	for _, v := range p.Versions {
		d.Versions = append(d.Versions, views.Option{Value: v.ID.String(), Label: fmt.Sprintf("%s v%d (%s)", v.Name, v.Version, v.Status),
			Selected: v.ID == p.Template.ID})
	}
	// The override inputs start from the size's own requests, in cores and GiB.
	if d.CPURequest == "" {
		m := p.Size.CPUCores * 1000
		if p.Size.CPUOvercommit && p.Size.CPURequestMillis > 0 {
			m = p.Size.CPURequestMillis
		}
		d.CPURequest = catalog.FormatCores(m)
	}
	if d.MemRequest == "" {
		m := p.Size.MemoryMib
		if p.Size.MemOvercommit && p.Size.MemRequestMib > 0 {
			m = p.Size.MemRequestMib
		}
		d.MemRequest = catalog.FormatGiB(m)
	}
	cluster := "—"
	if p.Cluster != nil {
		cluster = p.Cluster.Name
	}
	d.Preview = []approvalsview.Fact{
		{Label: "Cluster", Value: cluster}, {Label: "Storage class", Value: p.StorageClass},
		{Label: "Template", Value: fmt.Sprintf("%s v%d", p.Template.Name, p.Template.Version)},
		{Label: "CPU", Value: fmt.Sprintf("request %s, limit %s", p.CPURequest, p.CPULimit)},
		{Label: "Memory", Value: fmt.Sprintf("request %s, limit %s", p.MemRequest, p.MemLimit)},
		{Label: "Disk", Value: fmt.Sprintf("%d GB", p.DiskGB)},
		{Label: "VM name", Value: t.NamespaceName + "-" + strings.ReplaceAll(t.TargetName, "/", "-") + "-NN (number assigned at approval)"},
	}
	return d
}

func (h *Handler) show(c echo.Context) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	m, err := h.pageModel(c, t, governance.ApproveInput{TicketID: t.ID})
	if err != nil {
		return err
	}
	return page.OK(c, approvalsview.ApprovalPage(h.Kit.Layout(c, "Review request", "approvals"), m))
}

// preview recomputes the decision panel (htmx, on every change of the form).
func (h *Handler) preview(c echo.Context) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	m, err := h.pageModel(c, t, input(c, t.ID))
	if err != nil {
		return err
	}
	if !m.CanAct || t.Type != approvalticket.TypeVM_CREATE {
		return echo.NewHTTPError(http.StatusConflict, "This request can no longer be decided here.")
	}
	return page.OK(c, approvalsview.DecisionPanel(m.Decision))
}

func (h *Handler) approve(c echo.Context) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	switch t.Type {
	case approvalticket.TypeVM_CREATE:
	case approvalticket.TypeVNC_ACCESS:
		return h.approveConsole(c, t)
	default:
		return h.approveOperation(c, t)
	}
	in := input(c, t.ID)
	v, err := h.Gov.Approve(c.Request().Context(), who(c), in)
	if err == nil {
		page.Flash(c, "success", fmt.Sprintf("Approved. VM %s is being created.", v.Name))
		return h.afterDecision(c, t, c.FormValue("next") == "1")
	}
	return h.refused(c, t, in, err)
}

func (h *Handler) reject(c echo.Context) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	reason := c.FormValue("reason")
	err = h.Gov.Reject(c.Request().Context(), who(c), t.ID, reason)
	if err == nil {
		page.Flash(c, "success", "Rejected. The requester has been notified.")
		return h.afterDecision(c, t, true)
	}
	in := governance.ApproveInput{TicketID: t.ID}
	return h.refusedWith(c, t, in, err, reason, "")
}

// afterDecision leads on from a decided ticket: to its request page, or with next (the
// "Approve and open next" button, and always after a rejection) to the oldest request
// still waiting for this approver, or to the inbox when none is left.
func (h *Handler) afterDecision(c echo.Context, t *ent.ApprovalTicket, next bool) error {
	if !next {
		return page.Redirect(c, "/requests/"+t.ID.String())
	}
	url, err := h.nextURL(c, t.ID)
	if err != nil {
		return err
	}
	if url == "/approvals" {
		page.Flash(c, "info", "Nothing else waits for your decision.")
	}
	return page.Redirect(c, url)
}

// nextURL is the approval page of the oldest request waiting for this approver other
// than skip, or the inbox when none is left.
func (h *Handler) nextURL(c echo.Context, skip uuid.UUID) (string, error) {
	n, err := governance.NextWaiting(c.Request().Context(), h.Kit.Store.Ent, page.Principal(c), page.User(c).ID, skip)
	if err != nil || n == nil {
		return "/approvals", err
	}
	return "/approvals/" + n.ID.String(), nil
}

func (h *Handler) refused(c echo.Context, t *ent.ApprovalTicket, in governance.ApproveInput, err error) error {
	return h.refusedWith(c, t, in, err, "", "")
}

// refusedWith re-renders the page with what went wrong; a stale ticket or a
// permission problem is shown as a message, never a crash.
func (h *Handler) refusedWith(c echo.Context, t *ent.ApprovalTicket, in governance.ApproveInput, err error, reason, comment string) error {
	var ve *domain.ValidationError
	var de *domain.Error
	switch {
	case errors.As(err, &ve):
	case errors.As(err, &de) && de.Code == domain.CodeStaleTicket:
		page.Flash(c, "warning", de.Message)
		return page.Redirect(c, "/requests/"+t.ID.String())
	case errors.As(err, &de) && (de.Code == domain.CodeForbidden || de.Code == domain.CodeSelfApproval):
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &de):
	default:
		return err
	}
	fresh, lerr := h.Gov.DecisionTicket(c.Request().Context(), who(c), t.ID)
	if lerr != nil {
		return lerr
	}
	m, merr := h.pageModel(c, fresh, in)
	if merr != nil {
		return merr
	}
	if !m.CanAct {
		// Decided meanwhile (or never decidable by this user): say so on the request page.
		page.Flash(c, "warning", "This request can no longer be decided here; nothing was changed.")
		return page.Redirect(c, "/requests/"+t.ID.String())
	}
	if ve != nil {
		for k, v := range ve.Fields {
			m.Decision.Errors[k] = v
		}
	} else if de != nil {
		m.Decision.FormError = de.Message
	}
	m.Decision.Reason = reason
	m.Decision.Comment = comment
	return page.Render(c, http.StatusUnprocessableEntity, approvalsview.ApprovalPage(h.Kit.Layout(c, "Review request", "approvals"), m))
}
