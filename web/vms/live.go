package vms

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

// visibleVM loads the :id VM if the user may see it; anything else is not found.
// The names of its System, Service, cluster and template come in the same statement.
func (h *Handler) visibleVM(c echo.Context) (*ent.VM, governance.VMNames, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, governance.VMNames{}, echo.NewHTTPError(http.StatusNotFound)
	}
	v, names, err := h.Gov.VMWithNames(c.Request().Context(), id)
	if ent.IsNotFound(err) {
		return nil, names, echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return nil, names, err
	}
	ok, err := h.Gov.CanReadVM(c.Request().Context(), page.Principal(c), page.User(c).ID, v)
	if err != nil {
		return nil, names, err
	}
	if !ok {
		return nil, names, echo.NewHTTPError(http.StatusNotFound)
	}
	return v, names, nil
}

// status is the live block alone, polled by the VM page while work is in flight.
func (h *Handler) status(c echo.Context) error {
	v, names, err := h.visibleVM(c)
	if err != nil {
		return err
	}
	tickets, err := h.Gov.TicketsOfVM(c.Request().Context(), v, 0)
	if err != nil {
		return err
	}
	m := h.live(c, v, names.Cluster, tickets.Latest, tickets.Pending)
	m.OOB = true
	return page.OK(c, vmsview.LiveBlock(m))
}

// live builds the VM page's status block: observed state, the last operation with its
// steps, pending requests and the actions this user may take now.
func (h *Handler) live(c echo.Context, v *ent.VM, cluster string, latest *ent.ApprovalTicket, pending []*ent.ApprovalTicket) vmsview.Live {
	m := vmsview.Live{ID: v.ID.String(), Name: v.Name, Env: string(v.Environment), Status: string(v.Status), StatusMessage: v.StatusMessage,
		IP: v.IP, Node: v.Node, Namespace: v.NamespaceName, Cluster: cluster, CSRF: page.StateOf(c).CSRF,
		Missing: !v.K8sExists && v.Status != vm.StatusDELETED && v.Status != vm.StatusCREATING,
		Poll:    governance.Transitional(v.Status) || governance.InFlight(latest)}
	if v.SyncedAt != nil {
		m.Synced = views.Ago(*v.SyncedAt)
	}
	if v.Status == vm.StatusDELETED {
		m.IP, m.Node = "", "" // the last observation, meaningless for a VM that is gone
	}
	if latest != nil {
		m.Op = operation(latest, v, cluster)
		// The operation box shows a failure with its hint; the status block need not repeat it.
		if m.Op.ErrorMessage != "" && strings.HasSuffix(m.StatusMessage, m.Op.ErrorMessage) {
			m.StatusMessage = ""
		}
	}
	waiting := map[approvalticket.Type]bool{}
	for _, t := range pending {
		waiting[t.Type] = true
		m.Pending = append(m.Pending, vmsview.PendingOp{Title: opName(t.Type) + " request", URL: "/requests/" + t.ID.String(),
			By: "asked by " + t.RequesterName, Age: views.Ago(t.CreatedAt)})
	}
	m.Actions = actions(page.Principal(c), v, m.Poll, waiting)
	return m
}

// actions offers what the state allows and the user may do; the server checks again.
func actions(p *authz.Principal, v *ent.VM, busy bool, waiting map[approvalticket.Type]bool) vmsview.Actions {
	env := string(v.Environment)
	a := vmsview.Actions{PowerErrors: map[string]string{}, DeleteErrors: map[string]string{}}
	canOperate := p.Check(authz.VMOperate, authz.Create, v.SystemID, env) == authz.Allow
	canDelete := p.Check(authz.VMDelete, authz.Delete, v.SystemID, env) == authz.Allow
	// The console is offered while the VM runs; prod asks for approved access first
	// (the console page explains and offers the request).
	if v.Status == vm.StatusRUNNING && v.K8sExists && p.Check(authz.VNCAccess, authz.Create, v.SystemID, env) == authz.Allow {
		a.Console = "Open console"
		if v.Environment == vm.EnvironmentProd {
			a.Console = "Console (needs approved access)"
		}
	}
	if v.Status == vm.StatusDELETED || (!canOperate && !canDelete) {
		return a
	}
	if busy {
		a.Busy = "An operation is in progress; the actions come back when it has finished."
		return a
	}
	if canOperate {
		for _, o := range governance.PowerOps {
			if !o.Allows(v) || waiting[o.Ticket] {
				continue
			}
			b := vmsview.PowerButton{Op: o.Op, Label: strings.ToUpper(o.Op[:1]) + o.Op[1:], Danger: o.Op != "start"}
			if o.NeedsApproval(env) {
				b.NeedsApproval, b.Label = true, "Request "+o.Op+" (needs approval)"
				a.PowerNeedsReason = true
			}
			a.Power = append(a.Power, b)
		}
	}
	if canDelete && governance.OpDelete.Allows(v) {
		a.CanDelete, a.DeleteByName = true, v.Environment == vm.EnvironmentProd
		if waiting[approvalticket.TypeVM_DELETE] {
			a.DeleteBlocked = "Deletion has been requested and waits for an approver."
		}
	}
	return a
}

// operation turns a ticket into the VM page's timeline.
func operation(t *ent.ApprovalTicket, v *ent.VM, cluster string) *vmsview.Operation {
	by := "requested by " + t.RequesterName
	switch {
	case t.ApproverName == governance.AutoApprover:
		by += ", " + governance.AutoApprover
	case t.ApproverName != "":
		by += ", approved by " + t.ApproverName
	}
	o := &vmsview.Operation{Title: opName(t.Type) + " · request " + t.ID.String()[:8], Status: string(t.Status), URL: "/requests/" + t.ID.String(), By: by}
	for _, s := range governance.Progress(t) {
		step := vmsview.Step{Label: s.Label, State: s.State, Message: s.Message}
		if !s.At.IsZero() {
			step.When = s.At.UTC().Format("15:04:05 UTC")
		}
		o.Steps = append(o.Steps, step)
		if s.State == governance.ProgressFailed && o.ErrorMessage == "" {
			o.ErrorMessage = s.Message
		}
	}
	if t.Status == approvalticket.StatusFAILED {
		if t.ErrorMessage != "" {
			o.ErrorMessage = t.ErrorMessage
		}
		o.Hint = kube.Hint(t.ErrorCode, v.NamespaceName, cluster)
		for i := range o.Steps { // the error box below the timeline says it once
			if o.Steps[i].State == governance.ProgressFailed && o.Steps[i].Message == o.ErrorMessage {
				o.Steps[i].Message = ""
			}
		}
	} else {
		o.ErrorMessage = "" // a retried step's message stays in the timeline, not as an error
	}
	return o
}

// opName is how a ticket type reads on the VM page.
func opName(t approvalticket.Type) string {
	s := strings.ToLower(strings.TrimPrefix(string(t), "VM_"))
	return strings.ToUpper(s[:1]) + s[1:]
}
