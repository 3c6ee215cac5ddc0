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
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/notify"
)

// Delete removes the VM of an approved VM_DELETE event from its cluster and tombstones
// its row (flows §2.19). A VM already missing on the cluster counts as deleted.
func (e *Executor) Delete(ctx context.Context, eventID uuid.UUID, at Attempt) error {
	r, err := e.start(ctx, eventID, at, domain.StepRequested)
	if r == nil {
		return err
	}
	defer r.release()
	w, prov, cl := r.work, r.prov, r.cluster

	ref := kube.VMRef{Namespace: w.vm.NamespaceName, Name: w.vm.Name}
	e.step(ctx, w, domain.StepRequested, domain.StepStateRunning, "on "+cl.Name)
	err = e.call(ctx, func(ctx context.Context) error { return prov.DeleteVM(ctx, ref) })
	if err != nil && !kube.IsNotFound(err) {
		return e.failed(ctx, w, at, domain.StepRequested, err)
	}
	e.step(ctx, w, domain.StepRequested, domain.StepStateDone, "on "+cl.Name)
	e.step(ctx, w, domain.StepDeleted, domain.StepStateRunning, "")
	if err := e.waitGone(ctx, prov, ref); err != nil {
		return e.failed(ctx, w, at, domain.StepDeleted, err)
	}
	return e.deleted(ctx, w, cl.Name)
}

// waitGone polls until the VM is gone. A VM still terminating at the ready timeout is a
// retryable error: the next attempt deletes again (a no-op) and waits again.
func (e *Executor) waitGone(ctx context.Context, prov kube.Provider, ref kube.VMRef) error {
	deadline := time.Now().Add(e.readyTimeout())
	interval := e.PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	for {
		err := e.call(ctx, func(ctx context.Context) error { _, err := prov.GetVM(ctx, ref); return err })
		switch {
		case kube.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case time.Now().After(deadline):
			return kube.NewRetryable(kube.CodeTimeout, fmt.Sprintf("%s is still terminating after %s", ref, e.readyTimeout()))
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return kube.Classify(ctx.Err())
		case <-t.C:
		}
		interval = min(interval*2, 2*time.Second)
	}
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
		to, err := maintainers(ctx, tx.Ent, v.SystemID)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, append(to, t.RequesterID), notify.Message{Type: notification.TypeVM_DELETED,
			Title: "VM deleted: " + v.Name, Body: fmt.Sprintf("%s was deleted from %s (approved by %s).", v.Name, clusterName, t.ApproverName),
			Link: "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
}
