package requests

import (
	"strconv"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) list(c echo.Context) error {
	f := governance.RequestFilter{Status: validStatus(c.QueryParam("status")), Type: "",
		Page: page.Paging(c, paging.DefaultPerPage, paging.MaxPerPage), Keyset: page.KeysetOf(c.QueryParams())}
	rows, w, err := h.Gov.MyRequests(c.Request().Context(), page.User(c).ID, f)
	if err != nil {
		return err
	}
	m := requestsview.List{Status: f.Status, Pager: views.NewWindowPager(w, len(rows), "/requests", c.QueryParams())}
	batches, err := h.Gov.BatchSummaries(c.Request().Context(), rows)
	if err != nil {
		return err
	}
	for _, t := range rows {
		r := h.row(t)
		if t.BatchID != nil {
			b := batches[*t.BatchID]
			r.Batch, r.Status = BatchWords(b.ChildCount), b.Status
			r.Link, r.ShortID = "/batches/"+t.BatchID.String(), t.BatchID.String()[:8]
		}
		m.Rows = append(m.Rows, r)
	}
	return page.OK(c, requestsview.ListPage(h.Kit.Layout(c, "My requests", "requests"), m))
}

func (h *Handler) row(t *ent.ApprovalTicket) requestsview.Row {
	days := h.Gov.AgeDays(t)
	r := requestsview.Row{ID: t.ID.String(), ShortID: t.ID.String()[:8], Type: string(t.Type), Target: t.TargetName,
		Namespace: t.NamespaceName, Env: string(t.Environment), Status: string(t.Status), Requester: t.RequesterName,
		Age: views.Ago(t.CreatedAt), Created: views.Timestamp(t.CreatedAt), Updated: views.Ago(t.UpdatedAt),
		AgeClass: governance.AgeClass(days), Duration: ConsoleDuration(t), Link: "/requests/" + t.ID.String()}
	if t.DecidedAt != nil {
		r.DecidedAgo, r.DecidedAt, r.Waited = views.Ago(*t.DecidedAt), views.Timestamp(*t.DecidedAt), views.Span(t.DecidedAt.Sub(t.CreatedAt))
	}
	return r
}

// ConsoleDuration is the duration a console access request asks for, in words ("1 hour");
// "" for other requests.
func ConsoleDuration(t *ent.ApprovalTicket) string {
	if t.Type != approvalticket.TypeVNC_ACCESS {
		return ""
	}
	return governance.ConsoleDuration(governance.RequestedMinutes(t))
}

var statuses = map[string]bool{"PENDING_APPROVAL": true, "APPROVED": true, "EXECUTING": true, "SUCCESS": true, "FAILED": true, "REJECTED": true, "CANCELLED": true}

// validStatus ignores unknown filter values instead of failing the page.
func validStatus(s string) string {
	if statuses[s] {
		return s
	}
	return ""
}

// BatchWords names a batch of new VMs in a list ("3 new VMs").
func BatchWords(n int) string {
	if n == 1 {
		return "1 new VM (batch)"
	}
	return strconv.Itoa(n) + " new VMs"
}
