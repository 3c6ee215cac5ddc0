package requests

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
)

// requestConsole asks for a prod VM's console (the console page's form). The answer is
// always back on the console page with a flash: it shows the pending request, or the
// form again with the problem above it.
func (h *Handler) requestConsole(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	back := "/vms/" + id.String() + "/console"
	minutes := 0
	if v := strings.TrimSpace(c.FormValue("minutes")); v != "" {
		if minutes, err = strconv.Atoi(v); err != nil {
			minutes = -1 // not a number: the use case refuses it with the field's message
		}
	}
	t, err := h.Gov.RequestConsoleAccess(c.Request().Context(), who(c), id, c.FormValue("reason"), minutes)
	var ve *domain.ValidationError
	var de *domain.Error
	switch {
	case err == nil:
		page.Flash(c, "success", fmt.Sprintf("Console access to %s requested for %s. An approver decides; you will be notified.",
			t.TargetName, governance.ConsoleDuration(governance.RequestedMinutes(t))))
	case errors.Is(err, governance.ErrVMNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &de) && de.Code == domain.CodeDuplicatePending:
		page.Flash(c, "info", de.Message)
	case errors.As(err, &de):
		page.Flash(c, "error", de.Message)
	case errors.As(err, &ve):
		page.Flash(c, "error", fieldMessages(ve.Fields))
	default:
		return err
	}
	return page.Redirect(c, back)
}

// fieldMessages joins a form's problems for a flash, in a stable order.
func fieldMessages(f domain.FieldErrors) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, 0, len(keys))
	for _, k := range keys {
		msgs = append(msgs, f[k])
	}
	return strings.Join(msgs, " ")
}

// PendingConsoleRequest is the signed-in user's console request for the VM awaiting an
// approver, as a link ("" when there is none). The console page shows it instead of
// the request form.
func (h *Handler) PendingConsoleRequest(c echo.Context, vmID uuid.UUID) (string, error) {
	t, err := h.Gov.PendingConsoleRequest(c.Request().Context(), page.User(c).ID, vmID)
	if err != nil || t == nil {
		return "", err
	}
	return "/requests/" + t.ID.String(), nil
}

// consoleDetail adds what a console access request is about: the duration asked for,
// and once granted, until when, and whether the grant still holds.
func (h *Handler) consoleDetail(c echo.Context, t *ent.ApprovalTicket, d *requestsview.Detail) error {
	cd := &requestsview.ConsoleAccess{Requested: governance.ConsoleDuration(governance.RequestedMinutes(t))}
	d.Console = cd
	if t.VMID != nil {
		cd.ConsoleURL = "/vms/" + t.VMID.String() + "/console"
	}
	if t.Status != approvalticket.StatusSUCCESS {
		return nil
	}
	g, err := h.Gov.ConsoleGrantOf(c.Request().Context(), t)
	if err != nil || g == nil {
		return err
	}
	minutes := int(g.ExpiresAt.Sub(g.StartsAt).Round(time.Minute).Minutes())
	cd.Granted = governance.ConsoleUntil(g.ExpiresAt, minutes)
	now := time.Now()
	switch {
	case g.RevokedAt != nil:
		cd.State = "revoked"
		step := requestsview.Step{Title: "Access revoked", Detail: "by " + g.RevokedBy, When: views.Timestamp(*g.RevokedAt), State: "failed"}
		if g.RevokeReason != "" {
			step.Detail += ": " + g.RevokeReason
		}
		d.Steps = append(d.Steps, step)
	case !g.ExpiresAt.After(now):
		cd.State = "ended"
		d.Steps = append(d.Steps, requestsview.Step{Title: "Access ended", Detail: "the granted time is over", When: views.Timestamp(g.ExpiresAt), State: "done"})
	default:
		cd.State = "active"
		cd.CanOpen = t.RequesterID == page.User(c).ID
	}
	return nil
}
