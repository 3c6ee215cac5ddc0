package approvals

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/web/page"
)

// batch approves or rejects the ticked requests of the inbox, each on its own, and shows
// what happened to every one.
func (h *Handler) batch(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	var ids []uuid.UUID
	for _, v := range form["ticket"] {
		if id, err := uuid.Parse(v); err == nil {
			ids = append(ids, id)
		}
	}
	approve := c.FormValue("decision") != "reject"
	reason := c.FormValue("reason")
	res, err := h.Gov.BatchDecide(c.Request().Context(), who(c), ids, approve, reason)
	var re *governance.BatchRefusedError
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &re):
		page.Flash(c, "error", re.Message)
		return page.Redirect(c, "/approvals")
	case errors.As(err, &ve):
		m, merr := h.inboxModel(c)
		if merr != nil {
			return merr
		}
		m.Errors, m.Reason = ve.Fields, reason
		for _, id := range ids {
			m.Selected[id.String()] = true
		}
		return page.Render(c, http.StatusUnprocessableEntity, approvalsview.InboxPage(h.Kit.Layout(c, "Approvals", "approvals"), m))
	case err != nil:
		return err
	}
	verb := "Approve"
	if !approve {
		verb = "Reject"
	}
	title := fmt.Sprintf("%s: %s", verb, requestCount(len(res.Items)))
	m := views.BatchResult{Title: title, Summary: decisionSummary(res), Back: "/approvals", BackTo: "Back to the inbox"}
	for _, it := range res.Items {
		b := views.BatchItem{Name: it.Name, Kind: views.TicketTypeLabel(it.Type), Outcome: it.Outcome,
			Label: views.BatchOutcomeLabel(it.Outcome), Message: it.Message}
		if it.TicketID != uuid.Nil {
			b.URL = "/requests/" + it.TicketID.String()
		}
		if it.Outcome == governance.OutcomeChoice {
			b.Action, b.ActionURL = "Open it", "/approvals/"+it.TicketID.String()
		}
		m.Items = append(m.Items, b)
	}
	return page.OK(c, views.BatchResultPage(h.Kit.Layout(c, title, "approvals"), m))
}

func requestCount(n int) string {
	if n == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", n)
}

func decisionSummary(res *governance.BatchResult) string {
	var parts []string
	add := func(outcome, words string) {
		if n := res.Count(outcome); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, words))
		}
	}
	add(governance.OutcomeApproved, "approved")
	add(governance.OutcomeRejected, "rejected")
	if n := res.Count(governance.OutcomeChoice); n == 1 {
		parts = append(parts, "1 needs your choice")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("%d need your choice", n))
	}
	add(governance.OutcomeUnchanged, "already decided")
	add(governance.OutcomeRefused, "not decided")
	add(governance.OutcomeFailed, "failed")
	return strings.Join(parts, ", ") + "."
}
