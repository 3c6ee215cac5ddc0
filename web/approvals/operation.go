package approvals

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views/approvalsview"
	"kv-shepherd.io/shepherd/web/page"
)

// operationModel fills the approval page of a start, stop, restart or delete request:
// which VM, where it runs, the state it is in now and what is asked.
func (h *Handler) operationModel(c echo.Context, t *ent.ApprovalTicket, m approvalsview.Page) (approvalsview.Page, error) {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	op := strings.ToLower(strings.TrimPrefix(string(t.Type), "VM_"))
	o := &approvalsview.Operation{Op: op, VMName: t.TargetName}
	if t.VMID != nil {
		v, err := client.VM.Get(ctx, *t.VMID)
		if err != nil && !ent.IsNotFound(err) {
			return m, err
		}
		if v != nil {
			o.VMName, o.State, o.VMURL = v.Name, string(v.Status), "/vms/"+v.ID.String()
			o.Resources = fmt.Sprintf("%s, %d CPU, %d MiB, %d GB disk", v.InstanceSizeName, v.CPUCores, v.MemoryMib, v.DiskGB)
			if cl, err := client.Cluster.Get(ctx, v.ClusterID); err == nil {
				o.Cluster = cl.Name
			}
			if oper, ok := governance.PowerOp(op); ok && !oper.Allows(v) {
				o.Warning = fmt.Sprintf("The VM is %s now, so the %s cannot run; reject the request or wait.", v.Status, op)
			}
			if op == "delete" && !governance.OpDelete.Allows(v) {
				o.Warning = fmt.Sprintf("The VM is %s now and cannot be deleted.", v.Status)
			}
		}
	}
	m.Operation = o
	m.Decision = approvalsview.Decision{TicketID: t.ID.String(), Errors: map[string]string{}}
	return m, nil
}

// approveOperation approves a power or delete request with an optional comment.
func (h *Handler) approveOperation(c echo.Context, t *ent.ApprovalTicket) error {
	comment := c.FormValue("comment")
	err := h.Gov.ApproveOperation(c.Request().Context(), who(c), t.ID, comment)
	if err == nil {
		op := strings.ToLower(strings.TrimPrefix(string(t.Type), "VM_"))
		page.Flash(c, "success", fmt.Sprintf("Approved: %s of %s runs now. The requester has been notified.", op, t.TargetName))
		return h.afterDecision(c, t, c.FormValue("next") == "1")
	}
	return h.refusedWith(c, t, governance.ApproveInput{TicketID: t.ID}, err, "", comment)
}
