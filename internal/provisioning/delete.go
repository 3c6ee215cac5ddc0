package provisioning

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/notify"
)

// Delete removes the VM of an approved VM_DELETE event from its cluster and tombstones
// its row (flows §2.19). A VM already missing on the cluster counts as deleted. The
// delete is sent once; until the VM is gone the job ends with "not yet" and its next
// run only checks again.
func (e *Executor) Delete(ctx context.Context, eventID uuid.UUID, at Attempt) error {
	r, err := e.start(ctx, eventID, at, domain.StepRequested)
	if r == nil {
		return err
	}
	defer r.release()
	w, prov, cl := r.work, r.prov, r.cluster

	ref := kube.VMRef{Namespace: w.vm.NamespaceName, Name: w.vm.Name}
	requestedAt, requested := stepDoneAt(w.steps, domain.StepRequested)
	var linger time.Duration
	if !requested {
		e.step(ctx, w, domain.StepRequested, domain.StepStateRunning, "on "+cl.Name)
		err = e.call(ctx, func(ctx context.Context) error { return prov.DeleteVM(ctx, ref) })
		if err != nil && !kube.IsNotFound(err) {
			return e.failed(ctx, w, at, domain.StepRequested, err)
		}
		e.step(ctx, w, domain.StepRequested, domain.StepStateDone, "on "+cl.Name)
		e.step(ctx, w, domain.StepDeleted, domain.StepStateRunning, "")
		requestedAt, linger = e.now(), e.linger()
	}
	err = e.checkGone(ctx, w, prov, ref, requestedAt, linger)
	if _, later := jobs.IsNotYet(err); later {
		return err
	}
	if err != nil {
		return e.failed(ctx, w, at, domain.StepDeleted, err)
	}
	return e.deleted(ctx, w, cl.Name)
}

// checkGone reads the VM once: nil when it is gone, "not yet" while it terminates. A VM
// still terminating at the ready timeout is a retryable error, and the delete step is
// reopened so the next attempt deletes again (a no-op) and waits again.
func (e *Executor) checkGone(ctx context.Context, w *work, prov kube.Provider, ref kube.VMRef, since time.Time, linger time.Duration) error {
	var err error
	if perr := e.poll(ctx, linger, func(ctx context.Context) (bool, error) {
		err = e.call(ctx, func(ctx context.Context) error { _, err := prov.GetVM(ctx, ref); return err })
		return err != nil, nil
	}); perr != nil {
		return perr
	}
	switch {
	case kube.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	waited := e.now().Sub(since)
	if waited < e.readyTimeout() {
		return jobs.NotYet(e.recheckAfter(waited))
	}
	e.step(ctx, w, domain.StepRequested, domain.StepStateRunning, "deleting again")
	return kube.NewRetryable(kube.CodeTimeout, fmt.Sprintf("%s is still terminating after %s", ref, e.readyTimeout()))
}

// deleted commits the tombstone.
func (e *Executor) deleted(ctx context.Context, w *work, clusterName string) error {
	now, t, v := e.now(), w.ticket, w.vm
	w.steps = setStep(w.steps, schema.ExecStep{Name: domain.StepDeleted, State: domain.StepStateDone, At: now})
	return e.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.Ent.VM.UpdateOneID(v.ID).SetStatus(vm.StatusDELETED).SetStatusMessage("").SetDeletedAt(now).
			SetK8sExists(false).SetIP("").SetSyncedAt(now).Exec(ctx); err != nil {
			return err
		}
		if err := e.closeTicket(ctx, tx, w, approvalticket.StatusSUCCESS, "", ""); err != nil {
			return err
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.delete", ActorName: WorkerName,
			ResourceType: "vm", ResourceID: v.ID.String(), ResourceName: v.Name, ParentType: "service", ParentID: v.ServiceID.String(),
			Environment: string(v.Environment), Details: map[string]any{"cluster": clusterName, "namespace": v.NamespaceName,
				"ticket_id": t.ID.String(), "requested_by": t.RequesterName, "approved_by": t.ApproverName}}); err != nil {
			return err
		}
		to, err := members(ctx, tx.Ent, v.SystemID)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, append(to, t.RequesterID), notify.Message{Type: notification.TypeVM_DELETED,
			Title: "VM deleted: " + v.Name, Body: fmt.Sprintf("%s was deleted from %s (approved by %s).", v.Name, clusterName, t.ApproverName),
			Link: "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
}
