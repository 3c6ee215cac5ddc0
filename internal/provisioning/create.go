package provisioning

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/notify"
)

// Create provisions the VM of an approved VM_CREATE event: namespace just in time and
// server-side apply, then one check whether it runs. Until it does, the job ends with
// "not yet" and its next run only checks again; once it runs (or the ready timeout has
// passed), one transaction commits the outcome.
func (e *Executor) Create(ctx context.Context, eventID uuid.UUID, at Attempt) error {
	r, err := e.start(ctx, eventID, at, domain.StepNamespace)
	if r == nil {
		return err
	}
	defer r.release()
	w, prov, cl := r.work, r.prov, r.cluster
	spec := vmSpec(w.ticket, w.event, w.vm)
	appliedAt, applied := stepDoneAt(w.steps, domain.StepApplied)
	var linger time.Duration
	if !applied {
		if err := e.apply(ctx, w, prov, cl.Name, at); err != nil {
			return err
		}
		appliedAt, linger = e.now(), e.linger()
	}

	// 3. Does it run yet?
	st, reached, err := e.checkPhase(ctx, prov, spec.Ref, kube.PhaseRunning, appliedAt, linger)
	if _, later := jobs.IsNotYet(err); later {
		return err
	}
	if err != nil {
		return e.failed(ctx, w, at, domain.StepRunning, err)
	}
	return e.created(ctx, w, cl.Name, st, reached)
}

// apply makes the namespace and applies the VM: the cluster steps of a create, done
// once; later runs of the job find the applied step done and only check the VM.
func (e *Executor) apply(ctx context.Context, w *work, prov kube.Provider, clusterName string, at Attempt) error {
	// 1. Namespace, just in time (flows §2.16.3).
	e.step(ctx, w, domain.StepNamespace, domain.StepStateRunning, "on "+clusterName)
	var created bool
	err := e.call(ctx, func(ctx context.Context) (err error) {
		created, err = prov.EnsureNamespace(ctx, w.vm.NamespaceName, map[string]string{
			NamespaceEnvKey: string(w.vm.Environment), NamespaceByKey: "shepherd",
			NamespaceAtKey: e.now().UTC().Format("2006-01-02T15.04.05Z"),
		})
		return err
	})
	if nsErr := kube.ClassifyNamespace(err); nsErr != nil {
		return e.failed(ctx, w, at, domain.StepNamespace, nsErr)
	}
	nsMsg := "already present on " + clusterName
	if created {
		nsMsg = "created on " + clusterName
		e.recordNamespaceCreated(ctx, w, clusterName)
	}
	e.step(ctx, w, domain.StepNamespace, domain.StepStateDone, nsMsg)

	// 2. Render and apply. Apply is idempotent, so a rerun after a crash before the
	// step was recorded finds the same VM (same UID) instead of creating a second one.
	spec := vmSpec(w.ticket, w.event, w.vm)
	if err := kube.ValidateSpec(spec); err != nil {
		return e.failed(ctx, w, at, domain.StepApplied, err)
	}
	var st kube.VMStatus
	err = e.call(ctx, func(ctx context.Context) (err error) { st, err = prov.ApplyVM(ctx, spec); return err })
	if err != nil {
		return e.failed(ctx, w, at, domain.StepApplied, err)
	}
	e.step(ctx, w, domain.StepApplied, domain.StepStateDone, "uid "+st.UID)
	if e.afterApply != nil {
		if err := e.afterApply(); err != nil {
			return err
		}
	}

	e.step(ctx, w, domain.StepRunning, domain.StepStateRunning, string(st.Phase))
	return nil
}

// created commits a successful create.
func (e *Executor) created(ctx context.Context, w *work, clusterName string, st kube.VMStatus, reached bool) error {
	now := e.now()
	status, msg := vm.StatusRUNNING, ""
	if reached {
		w.steps = setStep(w.steps, schema.ExecStep{Name: domain.StepRunning, State: domain.StepStateDone, At: now, Message: st.IP})
	} else {
		status, msg = clusters.VMStatus(st.Phase), fmt.Sprintf("not running after %s (%s); status sync keeps watching", e.readyTimeout(), st.Phase)
		w.steps = setStep(w.steps, schema.ExecStep{Name: domain.StepRunning, State: domain.StepStateRunning, At: now, Message: msg})
	}
	t, v := w.ticket, w.vm
	return e.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.Ent.VM.UpdateOneID(v.ID).SetStatus(status).SetStatusMessage(msg).
			SetK8sUID(st.UID).SetIP(st.IP).SetNode(st.Node).SetK8sExists(true).SetSyncedAt(now).Exec(ctx); err != nil {
			return err
		}
		if err := e.closeTicket(ctx, tx, w, approvalticket.StatusSUCCESS, "", ""); err != nil {
			return err
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.create", ActorName: WorkerName,
			ResourceType: "vm", ResourceID: v.ID.String(), ResourceName: v.Name, ParentType: "service", ParentID: v.ServiceID.String(),
			Environment: string(v.Environment), Details: map[string]any{"cluster": clusterName, "namespace": v.NamespaceName,
				"k8s_uid": st.UID, "ticket_id": t.ID.String(), "requested_by": t.RequesterName, "approved_by": t.ApproverName}}); err != nil {
			return err
		}
		to, err := maintainers(ctx, tx.Ent, v.SystemID)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, append(to, t.RequesterID), notify.Message{Type: notification.TypeVM_CREATED,
			Title: "VM ready: " + v.Name, Body: fmt.Sprintf("%s is %s on %s (namespace %s).", v.Name, status, clusterName, v.NamespaceName),
			Link: "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
}

// closeTicket ends the ticket and its event together.
func (e *Executor) closeTicket(ctx context.Context, tx *db.Tx, w *work, status approvalticket.Status, errCode, errMsg string) error {
	now := e.now()
	err := tx.Ent.ApprovalTicket.UpdateOneID(w.ticket.ID).SetStatus(status).SetSteps(w.steps).
		SetExecutedAt(now).SetErrorCode(errCode).SetErrorMessage(errMsg).Exec(ctx)
	if err != nil {
		return err
	}
	evStatus := domainevent.StatusCOMPLETED
	if status == approvalticket.StatusFAILED {
		evStatus = domainevent.StatusFAILED
	}
	return tx.Ent.DomainEvent.UpdateOneID(w.event.ID).SetStatus(evStatus).SetErrorMessage(errMsg).SetProcessedAt(now).Exec(ctx)
}

// recordNamespaceCreated writes the NAMESPACE_CREATED event (spec §7.6). It is a record,
// not a state change: losing it to a crash is acceptable, failing the VM for it is not.
func (e *Executor) recordNamespaceCreated(ctx context.Context, w *work, cluster string) {
	err := e.Store.Ent.DomainEvent.Create().SetEventType(domain.EventNamespaceCreated).SetAggregateType("namespace").
		SetAggregateID(w.vm.NamespaceID.String()).SetStatus(domainevent.StatusCOMPLETED).SetProcessedAt(e.now()).
		SetRequestedBy(w.ticket.RequesterID).
		SetPayload(map[string]any{"namespace": w.vm.NamespaceName, "cluster": cluster, "ticket_id": w.ticket.ID.String()}).Exec(ctx)
	if err != nil {
		e.Logger.Warn("recording NAMESPACE_CREATED", "namespace", w.vm.NamespaceName, "cluster", cluster, "err", err)
	}
}

func (e *Executor) readyTimeout() time.Duration {
	if e.ReadyTimeout > 0 {
		return e.ReadyTimeout
	}
	return 5 * time.Minute
}
