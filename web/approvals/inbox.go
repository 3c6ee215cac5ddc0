package approvals

import (
	"strconv"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
	"kv-shepherd.io/shepherd/web/requests"
)

// maxAgeDays bounds the age filter (the form offers 4 and 8 days).
const maxAgeDays = 36500

var ticketTypes = []string{"VM_CREATE", "VM_DELETE", "VM_START", "VM_STOP", "VM_RESTART", "VNC_ACCESS"}

func (h *Handler) inbox(c echo.Context) error {
	m, err := h.inboxModel(c)
	if err != nil {
		return err
	}
	return page.OK(c, approvalsview.InboxPage(h.Kit.Layout(c, "Approvals", "approvals"), m))
}

// inboxModel builds the inbox from the query's filters, with a checkbox on each row
// this approver may decide (their environments, not their own requests).
func (h *Handler) inboxModel(c echo.Context) (approvalsview.Inbox, error) {
	ctx := c.Request().Context()
	q := c.QueryParams()
	p, u := page.Principal(c), page.User(c)
	age, _ := strconv.Atoi(q.Get("age"))
	age = min(max(age, 0), maxAgeDays) // a hand-edited age must not overflow the duration
	f := governance.InboxFilter{Type: page.OneOf(q.Get("type"), ticketTypes), Environment: page.OneOf(q.Get("environment"), []string{"test", "prod"}),
		Requester: q.Get("requester"), MinAgeDays: age, Page: page.PagingOf(q, paging.DefaultPerPage, paging.MaxPerPage),
		Keyset: page.KeysetOf(q)}
	rows, w, err := h.Gov.Inbox(ctx, p, f)
	if err != nil {
		return approvalsview.Inbox{}, err
	}
	batches, err := h.Gov.BatchSummaries(ctx, rows)
	if err != nil {
		return approvalsview.Inbox{}, err
	}
	m := approvalsview.Inbox{Pager: views.NewWindowPager(w, len(rows), "/approvals", q), Decidable: map[string]bool{},
		CSRF: page.StateOf(c).CSRF, MaxBatch: governance.MaxBatchApprove, Errors: map[string]string{}, Selected: map[string]bool{}}
	for _, t := range rows {
		// A batch is decided on its own page (one placement for all its VMs), not ticked here.
		if t.BatchID == nil && t.RequesterID != u.ID && p.HasIn(authz.ApprovalApprove, string(t.Environment)) {
			m.Decidable[t.ID.String()] = true
		}
		days := h.Gov.AgeDays(t)
		r := requestsview.Row{ID: t.ID.String(), ShortID: t.ID.String()[:8], Type: string(t.Type), Target: t.TargetName,
			Namespace: t.NamespaceName, Env: string(t.Environment), Status: string(t.Status), Requester: t.RequesterName,
			Age: views.Ago(t.CreatedAt), Created: views.Timestamp(t.CreatedAt), AgeClass: governance.AgeClass(days),
			Duration: requests.ConsoleDuration(t), Link: "/approvals/" + t.ID.String()}
		if t.BatchID != nil {
			// One row for the batch: its still-pending children, decided together.
			r.Batch = requests.BatchWords(batches[*t.BatchID].Counts.Pending)
			r.Link, r.ShortID = "/approvals/batches/"+t.BatchID.String(), t.BatchID.String()[:8]
		}
		m.Rows = append(m.Rows, r)
	}
	m.Types = page.FilterOptions("Any type", ticketTypes, f.Type)
	for i := range m.Types[1:] {
		m.Types[i+1].Label = views.TicketTypeLabel(m.Types[i+1].Value)
	}
	m.Envs = page.FilterOptions("Any environment", p.Environments(authz.ApprovalView), f.Environment)
	names, err := h.Gov.Requesters(ctx)
	if err != nil {
		return approvalsview.Inbox{}, err
	}
	m.Requesters = page.FilterOptions("Anyone", names, f.Requester)
	m.Ages = []views.Option{{Value: "", Label: "Any age", Selected: age == 0}, {Value: "4", Label: "4 days or more", Selected: age == 4},
		{Value: "8", Label: "More than 7 days", Selected: age == 8}}
	return m, nil
}
