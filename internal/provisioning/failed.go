package provisioning

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/notify"
)

// failed decides what a cluster error at step means. A retryable error with attempts
// left is returned as is (River retries with backoff; the step shows the attempt). A
// permanent error, or any error on the last attempt, fails the VM, ticket and event in
// one transaction, tells the requester and approver why, and ends the job.
func (e *Executor) failed(ctx context.Context, w *work, at Attempt, step string, cause error) error {
	code, msg := describe(cause)
	if kube.IsRetryable(cause) && !at.Last() {
		e.step(ctx, w, step, domain.StepStateRunning, fmt.Sprintf("attempt %d of %d failed (%s); retrying", at.N, at.Max, msg))
		return cause
	}
	if kube.IsRetryable(cause) {
		msg = fmt.Sprintf("gave up after %d attempts: %s", at.N, msg)
	}
	// Learn what the cluster says about the VM now, so its row shows the truth
	// rather than a stale in-flight state. Best effort, outside the transaction.
	status, exists := vm.StatusFAILED, true
	if w.ticket.Type != approvalticket.TypeVM_CREATE {
		status, exists = e.observe(ctx, w)
	}
	w.steps = setStep(w.steps, schema.ExecStep{Name: step, State: domain.StepStateFailed, At: e.now(), Message: msg})
	op := operation(w.ticket.Type)
	t, v := w.ticket, w.vm
	err := e.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		upd := tx.Ent.VM.UpdateOneID(v.ID).Where(vm.StatusNEQ(vm.StatusDELETED)).SetStatus(status).
			SetStatusMessage(fmt.Sprintf("%s failed: %s", op, msg)).SetK8sExists(exists)
		if err := upd.Exec(ctx); err != nil && !ent.IsNotFound(err) {
			return err
		}
		if err := e.closeTicket(ctx, tx, w, approvalticket.StatusFAILED, code, msg); err != nil {
			return err
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm." + op + "_failed", ActorName: WorkerName,
			ResourceType: "vm", ResourceID: v.ID.String(), ResourceName: v.Name, ParentType: "service", ParentID: v.ServiceID.String(),
			Environment: string(v.Environment), Details: map[string]any{"code": code, "error": msg, "step": step,
				"attempt": at.N, "ticket_id": t.ID.String()}}); err != nil {
			return err
		}
		to := []uuid.UUID{t.RequesterID}
		if t.ApproverID != nil {
			to = append(to, *t.ApproverID)
		}
		nt := notification.TypeVM_OPERATION_FAILED
		if t.Type == approvalticket.TypeVM_CREATE {
			nt = notification.TypeVM_FAILED
		}
		return notify.Send(ctx, tx.Ent, to, notify.Message{Type: nt, Title: fmt.Sprintf("Failed to %s %s", op, v.Name),
			Body: fmt.Sprintf("%s (step: %s). %s", msg, domain.StepLabel(step), kube.Hint(code, v.NamespaceName, e.clusterName(ctx, v.ClusterID))),
			Link: "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
	if err != nil {
		return err // retry: the next run reaches the same decision
	}
	e.Logger.Warn("ticket failed", "ticket", t.ID, "vm", v.Name, "op", op, "step", step, "code", code, "err", msg)
	return &PermanentError{Err: cause}
}

// clusterName names the VM's cluster in messages; the id stands in if the row is gone.
func (e *Executor) clusterName(ctx context.Context, id uuid.UUID) string {
	c, err := e.Store.Ent.Cluster.Get(ctx, id)
	if err != nil {
		return id.String()
	}
	return c.Name
}

// observe reads the VM's current phase for a failed operation's VM row.
func (e *Executor) observe(ctx context.Context, w *work) (vm.Status, bool) {
	prov, _, err := e.Clusters.Provider(ctx, w.vm.ClusterID)
	if err != nil {
		return vm.StatusUNKNOWN, w.vm.K8sExists
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := prov.GetVM(ctx, kube.VMRef{Namespace: w.vm.NamespaceName, Name: w.vm.Name})
	switch {
	case kube.IsNotFound(err):
		return vm.StatusUNKNOWN, false
	case err != nil:
		return vm.StatusUNKNOWN, w.vm.K8sExists
	}
	return clusters.VMStatus(st.Phase), true
}

// operation is the verb of a ticket type: create, start, stop, restart, delete.
func operation(t approvalticket.Type) string {
	return strings.ToLower(strings.TrimPrefix(string(t), "VM_"))
}
