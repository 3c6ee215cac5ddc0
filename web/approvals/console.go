package approvals

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/web/page"
)

// consoleModel fills the approval page of a console access request: the VM as it is
// now, the duration asked for, and the durations the approver may grant.
func (h *Handler) consoleModel(c echo.Context, t *ent.ApprovalTicket, m approvalsview.Page) (approvalsview.Page, error) {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	requested := governance.RequestedMinutes(t)
	cr := &approvalsview.ConsoleRequest{
		VMName:    t.TargetName,
		Requested: governance.ConsoleDuration(requested),
		Durations: durations(requested),
	}
	if t.VMID != nil {
		v, err := client.VM.Get(ctx, *t.VMID)
		if err != nil && !ent.IsNotFound(err) {
			return m, err
		}
		if v != nil {
			cr.VMName, cr.VMURL, cr.State = v.Name, "/vms/"+v.ID.String(), string(v.Status)
			if cl, err := client.Cluster.Get(ctx, v.ClusterID); err == nil {
				cr.Cluster = cl.Name
			}
			if v.Status != vm.StatusRUNNING {
				cr.Warning = fmt.Sprintf("The VM is %s now: its console opens only while it runs.", strings.ToLower(string(v.Status)))
			}
		}
	}
	m.Console = cr
	m.Decision = approvalsview.Decision{TicketID: t.ID.String(), Errors: map[string]string{}}
	return m, nil
}

// durations are the grant lengths on offer, the requested one chosen (and added when
// the requester asked for a length not in the list).
func durations(requested int) []views.Option {
	choices := governance.ConsoleGrantChoices
	found := false
	for _, m := range choices {
		found = found || m == requested
	}
	if !found && requested > 0 && requested <= governance.MaxConsoleMinutes {
		choices = append([]int{requested}, choices...)
	}
	out := make([]views.Option, 0, len(choices))
	for _, m := range choices {
		label := governance.ConsoleDuration(m)
		if m == requested {
			label += " (as requested)"
		}
		out = append(out, views.Option{Value: strconv.Itoa(m), Label: label, Selected: m == requested})
	}
	return out
}

// approveConsole grants a console access request for the chosen time.
func (h *Handler) approveConsole(c echo.Context, t *ent.ApprovalTicket) error {
	comment := c.FormValue("comment")
	minutes := 0 // none chosen: the requested duration
	if v := strings.TrimSpace(c.FormValue("minutes")); v != "" {
		var err error
		if minutes, err = strconv.Atoi(v); err != nil {
			minutes = -1 // not a number: refused with the field's message
		}
	}
	g, err := h.Gov.ApproveConsoleAccess(c.Request().Context(), who(c), t.ID, minutes, comment)
	if err != nil {
		return h.refusedWith(c, t, governance.ApproveInput{TicketID: t.ID}, err, "", comment)
	}
	length := int(g.ExpiresAt.Sub(g.StartsAt).Round(time.Minute).Minutes())
	page.Flash(c, "success", fmt.Sprintf("Console access to %s granted to %s %s. They have been notified.",
		t.TargetName, t.RequesterName, governance.ConsoleUntil(g.ExpiresAt, length)))
	return h.afterDecision(c, t, c.FormValue("next") == "1")
}
