package requests

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
)

// batch is the page of a batch request: what was asked, its computed status and each
// child with its VM, for the requester, the System's members and approvers.
func (h *Handler) batch(c echo.Context) error {
	m, err := h.batchPage(c)
	if err != nil {
		return err
	}
	return page.OK(c, requestsview.BatchPage(h.Kit.Layout(c, "Batch request "+m.ShortID, "requests"), m))
}

// batchLive is the fragment the batch page re-fetches when a child changes.
func (h *Handler) batchLive(c echo.Context) error {
	m, err := h.batchPage(c)
	if err != nil {
		return err
	}
	return page.OK(c, requestsview.BatchLive(page.StateOf(c).CSRF, m))
}

func (h *Handler) batchPage(c echo.Context) (requestsview.Batch, error) {
	id, err := pathID(c)
	if err != nil {
		return requestsview.Batch{}, err
	}
	v, err := h.Gov.BatchFor(c.Request().Context(), who(c), id)
	if errors.Is(err, governance.ErrBatchNotFound) {
		return requestsview.Batch{}, echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return requestsview.Batch{}, err
	}
	return h.BatchModel(c, v)
}

// BatchModel turns a batch into its page model (shared with the batch approval page).
func (h *Handler) BatchModel(c echo.Context, v *governance.BatchView) (requestsview.Batch, error) {
	b := v.Batch
	m := requestsview.Batch{ID: b.ID.String(), ShortID: b.ID.String()[:8], Status: v.Status, Requester: b.RequesterName,
		Target: b.TargetName, Namespace: b.NamespaceName, Env: string(b.Environment), Reason: b.Reason, Count: b.ChildCount,
		Submitted: views.Ago(b.CreatedAt), Created: views.Timestamp(b.CreatedAt), Failed: v.Counts.Failed, Pending: v.Counts.Pending}
	if len(v.Children) > 0 {
		// The children ask for the same size, template and disk: the first one says it.
		d, err := h.DetailModel(c, v.Children[0])
		if err != nil {
			return m, err
		}
		m.Size, m.Template, m.DiskGB = d.Size, d.Template, d.DiskGB
	}
	w := who(c)
	canDecide := governance.CanDecideBatch(w, b)
	for i, t := range v.Children {
		ch := requestsview.BatchChild{N: i + 1, TicketID: t.ID.String(), Status: string(t.Status), Error: failureWords(t.ErrorCode, t.ErrorMessage),
			Link: "/requests/" + t.ID.String()}
		if canDecide && t.Status == approvalticket.StatusPENDING_APPROVAL {
			ch.Link = "/approvals/" + t.ID.String() // decide this one on its own
		}
		if t.Status == approvalticket.StatusREJECTED || t.Status == approvalticket.StatusCANCELLED {
			ch.Error = t.DecisionReason
		}
		if x := v.VMs[t.ID]; x != nil {
			ch.VMName, ch.VMURL, ch.VMStatus = x.Name, "/vms/"+x.ID.String(), string(x.Status)
		}
		m.Children = append(m.Children, ch)
	}
	m.CanRetry = governance.CanRetryBatch(w, b)
	if v.Counts.Pending > 0 && canDecide {
		m.DecideURL = "/approvals/batches/" + m.ID
	}
	m.Summary = batchSummary(v.Counts)
	return m, nil
}

// batchSummary says where the children are, in words ("2 done, 1 failed").
func batchSummary(c governance.BatchCounts) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Pending, "waiting for approval")
	add(c.InFlight, "being created")
	add(c.Succeeded, "done")
	add(c.Failed, "failed")
	add(c.Rejected, "rejected or cancelled")
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out
}

// retryBatch re-queues the failed children of a batch.
func (h *Handler) retryBatch(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	n, err := h.Gov.RetryBatch(c.Request().Context(), who(c), id)
	var de *domain.Error
	switch {
	case err == nil:
		page.Flash(c, "success", fmt.Sprintf("Retrying %d failed %s.", n, plural(n, "VM", "VMs")))
		return page.Redirect(c, "/batches/"+id.String())
	case errors.Is(err, governance.ErrBatchNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &de):
		m, merr := h.batchPage(c)
		if merr != nil {
			return merr
		}
		m.FormError = de.Message
		return page.Render(c, http.StatusUnprocessableEntity, requestsview.BatchPage(h.Kit.Layout(c, "Batch request "+m.ShortID, "requests"), m))
	default:
		return err
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// failureWords says a failure with its code in words ("Validation failed: …"): the
// worker's message starts with the code itself.
func failureWords(code, msg string) string {
	if code == "" || msg == "" {
		return msg
	}
	return views.ErrorLabel(code) + ": " + strings.TrimPrefix(msg, code+": ")
}
