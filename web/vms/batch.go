package vms

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

// selected reads the ticked VMs (repeated "vm" fields); values that are no id are dropped.
// The raw count is returned too, so an oversized form is refused rather than trimmed.
func selected(c echo.Context) ([]uuid.UUID, error) {
	form, err := c.FormParams()
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, v := range form["vm"] {
		if id, err := uuid.Parse(v); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// backURL is where a batch leads back to: the list as it was (filters, page); only VM
// list URLs are accepted, so the field cannot send anyone elsewhere.
func backURL(c echo.Context) string {
	b := c.FormValue("back")
	u, err := url.Parse(b)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/vms" {
		return "/vms"
	}
	if q := u.Query().Encode(); q != "" {
		return "/vms?" + q
	}
	return "/vms"
}

// batchRefused answers a batch refused as a whole: with the items concerned on a
// summary page (422), or as a flash on the list when the batch itself was wrong.
func (h *Handler) batchRefused(c echo.Context, title string, re *governance.BatchRefusedError) error {
	back := backURL(c)
	if len(re.Items) == 0 {
		page.Flash(c, "error", re.Message)
		return page.Redirect(c, back)
	}
	m := views.BatchResult{Title: title, Message: re.Message, Back: back, BackTo: "Back to the VM list"}
	for _, it := range re.Items {
		m.Items = append(m.Items, vmItem(it))
	}
	return page.Render(c, http.StatusUnprocessableEntity, views.BatchResultPage(h.Kit.Layout(c, title, "vms"), m))
}

func vmItem(it governance.BatchItem) views.BatchItem {
	b := views.BatchItem{Name: it.Name, Outcome: it.Outcome, Label: views.BatchOutcomeLabel(it.Outcome), Message: it.Message}
	if it.VMID != uuid.Nil && it.Name != "" {
		b.URL = "/vms/" + it.VMID.String()
	}
	if it.Outcome == governance.OutcomeRequested && it.TicketID != uuid.Nil {
		b.Action, b.ActionURL = "See the request", "/requests/"+it.TicketID.String()
	}
	return b
}

// batchPower starts, stops or restarts the ticked VMs, each on its own, and shows what
// happened to every one.
func (h *Handler) batchPower(c echo.Context) error {
	ids, err := selected(c)
	if err != nil {
		return err
	}
	op := c.FormValue("op")
	res, err := h.Gov.BatchPower(c.Request().Context(), who(c), ids, op, c.FormValue("reason"))
	var re *governance.BatchRefusedError
	if errors.As(err, &re) {
		return h.batchRefused(c, "Nothing was done", re)
	}
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s: %s", strings.ToUpper(op[:1])+op[1:], vmCount(len(res.Items)))
	m := views.BatchResult{Title: title, Summary: powerSummary(res), Back: backURL(c), BackTo: "Back to the VM list"}
	for _, it := range res.Items {
		m.Items = append(m.Items, vmItem(it))
	}
	return page.OK(c, views.BatchResultPage(h.Kit.Layout(c, title, "vms"), m))
}

func vmCount(n int) string {
	if n == 1 {
		return "1 VM"
	}
	return fmt.Sprintf("%d VMs", n)
}

// powerSummary counts the outcomes in words, in a fixed order.
func powerSummary(res *governance.BatchResult) string {
	var parts []string
	add := func(outcome, words string) {
		if n := res.Count(outcome); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, words))
		}
	}
	add(governance.OutcomeQueued, res.Op+" queued")
	add(governance.OutcomeRequested, "sent for approval")
	add(governance.OutcomeUnchanged, "nothing to do")
	add(governance.OutcomeRefused, "not done")
	add(governance.OutcomeFailed, "failed")
	return strings.Join(parts, ", ") + "."
}

// batchDelete shows the confirmation of a batch deletion (from the list), and with
// step=confirm requests every deletion in one transaction, or none.
func (h *Handler) batchDelete(c echo.Context) error {
	ctx := c.Request().Context()
	ids, err := selected(c)
	if err != nil {
		return err
	}
	var re *governance.BatchRefusedError
	if c.FormValue("step") != "confirm" {
		vms, err := h.Gov.CheckBatchDelete(ctx, who(c), ids)
		if errors.As(err, &re) {
			return h.batchRefused(c, "Nothing was deleted", re)
		}
		if err != nil {
			return err
		}
		return h.renderBatchDelete(c, http.StatusOK, vms, nil, "")
	}
	in := governance.BatchDeleteInput{VMIDs: ids, Reason: c.FormValue("reason"), Confirm: c.FormValue("confirm") != "",
		Names: map[uuid.UUID]string{}}
	for _, id := range ids {
		in.Names[id] = c.FormValue("confirm_name_" + id.String())
	}
	res, err := h.Gov.BatchDelete(ctx, who(c), in)
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &re):
		return h.batchRefused(c, "Nothing was deleted", re)
	case errors.As(err, &ve):
		vms, cerr := h.Gov.CheckBatchDelete(ctx, who(c), ids)
		if errors.As(cerr, &re) {
			return h.batchRefused(c, "Nothing was deleted", re)
		}
		if cerr != nil {
			return cerr
		}
		return h.renderBatchDelete(c, http.StatusUnprocessableEntity, vms, ve.Fields, "")
	case err != nil:
		return err
	}
	title := "Delete: " + vmCount(len(res.Items))
	m := views.BatchResult{Title: title, Summary: fmt.Sprintf("%s sent for approval; you will be notified of each decision.", vmCount(len(res.Items))),
		Back: backURL(c), BackTo: "Back to the VM list"}
	for _, it := range res.Items {
		m.Items = append(m.Items, vmItem(it))
	}
	return page.OK(c, views.BatchResultPage(h.Kit.Layout(c, title, "vms"), m))
}

func (h *Handler) renderBatchDelete(c echo.Context, status int, vms []*ent.VM, errs map[string]string, msg string) error {
	m := vmsview.BatchDelete{Reason: c.FormValue("reason"), Confirm: c.FormValue("confirm") != "", Errors: errs, Message: msg,
		Back: backURL(c), CSRF: page.StateOf(c).CSRF}
	if m.Errors == nil {
		m.Errors = map[string]string{}
	}
	for _, v := range vms {
		row := vmsview.BatchDeleteVM{ID: v.ID.String(), Name: v.Name, Env: string(v.Environment), Status: string(v.Status),
			Namespace: v.NamespaceName}
		row.Typed = c.FormValue(row.ConfirmField())
		m.Prod = m.Prod || v.Environment == "prod"
		m.VMs = append(m.VMs, row)
	}
	title := "Delete " + vmCount(len(vms))
	return page.Render(c, status, vmsview.BatchDeletePage(h.Kit.Layout(c, title, "vms"), m))
}
