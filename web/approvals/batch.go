package approvals

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/web/page"
)

// loadBatch reads the batch of the path for an approver; anything else is not found.
func (h *Handler) loadBatch(c echo.Context) (*governance.BatchView, error) {
	id, err := ticketID(c)
	if err != nil {
		return nil, err
	}
	v, err := h.Gov.BatchFor(c.Request().Context(), who(c), id)
	if errors.Is(err, governance.ErrBatchNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return v, err
}

// batchModel builds the batch approval page with the approver's input: the batch, its
// children, and one decision panel planned on its first pending child (the children
// ask for the same thing, so one plan places them all).
func (h *Handler) batchModel(c echo.Context, v *governance.BatchView, in governance.ApproveInput) (approvalsview.BatchPage, error) {
	b, err := h.Requests.BatchModel(c, v)
	if err != nil {
		return approvalsview.BatchPage{}, err
	}
	m := approvalsview.BatchPage{Batch: b, CanAct: v.Counts.Pending > 0 && governance.CanDecideBatch(who(c), v.Batch)}
	m.Batch.DecideURL = ""
	if !m.CanAct {
		return m, nil
	}
	for _, t := range v.Children {
		if t.Status != approvalticket.StatusPENDING_APPROVAL {
			continue
		}
		in.TicketID = t.ID
		plan, err := h.Gov.PlanApproval(c.Request().Context(), t, in)
		if err != nil {
			return m, err
		}
		m.Decision = decision(t, in, plan)
		break
	}
	m.Decision.Batch = v.Counts.Pending
	for i, f := range m.Decision.Preview {
		if f.Label == "VM name" {
			m.Decision.Preview[i].Value += ", one per VM"
		}
	}
	return m, nil
}

func (h *Handler) showBatch(c echo.Context) error {
	v, err := h.loadBatch(c)
	if err != nil {
		return err
	}
	m, err := h.batchModel(c, v, governance.ApproveInput{})
	if err != nil {
		return err
	}
	return page.OK(c, approvalsview.BatchApprovalPage(h.Kit.Layout(c, "Review batch request", "approvals"), m))
}

// previewBatch recomputes the decision panel (htmx, on every change of the form).
func (h *Handler) previewBatch(c echo.Context) error {
	v, err := h.loadBatch(c)
	if err != nil {
		return err
	}
	m, err := h.batchModel(c, v, input(c, v.Batch.ID))
	if err != nil {
		return err
	}
	if !m.CanAct {
		return echo.NewHTTPError(http.StatusConflict, "This batch can no longer be decided here.")
	}
	return page.OK(c, approvalsview.DecisionPanel(m.Decision))
}

func (h *Handler) approveBatch(c echo.Context) error {
	v, err := h.loadBatch(c)
	if err != nil {
		return err
	}
	in := input(c, v.Batch.ID)
	n, err := h.Gov.ApproveBatch(c.Request().Context(), who(c), v.Batch.ID, in)
	if err == nil {
		page.Flash(c, "success", fmt.Sprintf("Approved. %d VMs are being created.", n))
		return page.Redirect(c, "/batches/"+v.Batch.ID.String())
	}
	return h.batchRefused(c, in, err, "")
}

func (h *Handler) rejectBatch(c echo.Context) error {
	v, err := h.loadBatch(c)
	if err != nil {
		return err
	}
	reason := c.FormValue("reason")
	n, err := h.Gov.RejectBatch(c.Request().Context(), who(c), v.Batch.ID, reason)
	if err == nil {
		page.Flash(c, "success", fmt.Sprintf("Rejected %d VMs. The requester has been notified.", n))
		return page.Redirect(c, "/batches/"+v.Batch.ID.String())
	}
	return h.batchRefused(c, governance.ApproveInput{}, err, reason)
}

// batchRefused re-renders the batch approval page with what went wrong; a batch decided
// meanwhile or a permission problem is shown as a message, never a crash.
func (h *Handler) batchRefused(c echo.Context, in governance.ApproveInput, err error, reason string) error {
	var ve *domain.ValidationError
	var de *domain.Error
	switch {
	case errors.As(err, &ve):
	case errors.As(err, &de) && de.Code == domain.CodeStaleTicket:
		page.Flash(c, "warning", de.Message)
		return page.Redirect(c, "/batches/"+c.Param("id"))
	case errors.As(err, &de) && (de.Code == domain.CodeForbidden || de.Code == domain.CodeSelfApproval):
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &de):
	default:
		return err
	}
	v, err := h.loadBatch(c)
	if err != nil {
		return err
	}
	m, err := h.batchModel(c, v, in)
	if err != nil {
		return err
	}
	if !m.CanAct {
		page.Flash(c, "warning", "This batch can no longer be decided here; nothing was changed.")
		return page.Redirect(c, "/batches/"+v.Batch.ID.String())
	}
	if m.Decision.Errors == nil {
		m.Decision.Errors = map[string]string{}
	}
	if ve != nil {
		for k, msg := range ve.Fields {
			m.Decision.Errors[k] = msg
		}
	} else if de != nil {
		m.Decision.FormError = de.Message
	}
	m.Decision.Reason = reason
	return page.Render(c, http.StatusUnprocessableEntity, approvalsview.BatchApprovalPage(h.Kit.Layout(c, "Review batch request", "approvals"), m))
}
