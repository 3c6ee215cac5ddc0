package provisioning

import (
	"context"
	"fmt"
	"slices"
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
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/notify"
)

// powerPlan is what one power operation does and waits for.
type powerPlan struct {
	transitional vm.Status
	target       kube.Phase
	doneStep     string
	call         func(kube.Provider, context.Context, kube.VMRef) error
}

var powerPlans = map[approvalticket.Type]powerPlan{
	approvalticket.TypeVM_START:   {vm.StatusSTARTING, kube.PhaseRunning, domain.StepRunning, kube.Provider.StartVM},
	approvalticket.TypeVM_STOP:    {vm.StatusSTOPPING, kube.PhaseStopped, domain.StepStopped, kube.Provider.StopVM},
	approvalticket.TypeVM_RESTART: {vm.StatusRESTARTING, kube.PhaseRunning, domain.StepRunning, kube.Provider.RestartVM},
}

// Power starts, stops or restarts the VM of an approved power event (flows §2.17)
// through the cluster's subresources, once, then checks whether the VM has settled;
// until it has, the job ends with "not yet" and its next run only checks again.
func (e *Executor) Power(ctx context.Context, eventID uuid.UUID, at Attempt) error {
	r, err := e.start(ctx, eventID, at, domain.StepRequested)
	if r == nil {
		return err
	}
	defer r.release()
	w, prov, cl := r.work, r.prov, r.cluster
	plan, ok := powerPlans[w.ticket.Type]
	if !ok {
		return e.failed(ctx, w, at, domain.StepRequested,
			kube.NewPermanent(kube.CodeValidationFailed, fmt.Sprintf("%s is not a power operation", w.ticket.Type)))
	}

	ref := kube.VMRef{Namespace: w.vm.NamespaceName, Name: w.vm.Name}
	requestedAt, requested := stepDoneAt(w.steps, domain.StepRequested)
	var linger time.Duration
	if !requested {
		err = e.Store.Ent.VM.UpdateOneID(w.vm.ID).Where(vm.StatusNotIn(vm.StatusDELETING, vm.StatusDELETED, vm.StatusCREATING)).
			SetStatus(plan.transitional).SetStatusMessage("").Exec(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		e.step(ctx, w, domain.StepRequested, domain.StepStateRunning, "on "+cl.Name)
		if err := e.call(ctx, func(ctx context.Context) error { return plan.call(prov, ctx, ref) }); err != nil {
			return e.failed(ctx, w, at, domain.StepRequested, err)
		}
		e.step(ctx, w, domain.StepRequested, domain.StepStateDone, "on "+cl.Name)
		e.step(ctx, w, plan.doneStep, domain.StepStateRunning, "")
		requestedAt, linger = e.now(), e.linger()
	}
	st, reached, err := e.checkPhase(ctx, prov, ref, plan.target, requestedAt, linger)
	if _, later := jobs.IsNotYet(err); later {
		return err
	}
	if err != nil {
		return e.failed(ctx, w, at, plan.doneStep, err)
	}
	return e.powered(ctx, w, plan, st, reached)
}

// powered commits a finished power operation.
func (e *Executor) powered(ctx context.Context, w *work, plan powerPlan, st kube.VMStatus, reached bool) error {
	now, t, v := e.now(), w.ticket, w.vm
	op := operation(t.Type)
	stepMsg, state, vmMsg := st.IP, domain.StepStateDone, ""
	if !reached {
		vmMsg = fmt.Sprintf("still %s after %s; status sync keeps watching", st.Phase, e.readyTimeout())
		stepMsg, state = vmMsg, domain.StepStateRunning
	}
	w.steps = setStep(w.steps, schema.ExecStep{Name: plan.doneStep, State: state, At: now, Message: stepMsg})
	return e.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		err := tx.Ent.VM.UpdateOneID(v.ID).Where(vm.StatusNotIn(vm.StatusDELETING, vm.StatusDELETED)).
			SetStatus(clusters.VMStatus(st.Phase)).SetStatusMessage(vmMsg).
			SetIP(st.IP).SetNode(st.Node).SetK8sExists(true).SetSyncedAt(now).Exec(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		if err := e.closeTicket(ctx, tx, w, approvalticket.StatusSUCCESS, "", ""); err != nil {
			return err
		}
		details := map[string]any{"ticket_id": t.ID.String(), "requested_by": t.RequesterName, "approved_by": t.ApproverName,
			"phase": string(st.Phase)}
		if t.Type == approvalticket.TypeVM_STOP {
			details["graceful"] = true
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm." + op, ActorName: WorkerName,
			ResourceType: "vm", ResourceID: v.ID.String(), ResourceName: v.Name, ParentType: "service", ParentID: v.ServiceID.String(),
			Environment: string(v.Environment), Details: details}); err != nil {
			return err
		}
		// The System's other members hear of what someone else did to their VM. The
		// requester watched an auto-approved (test) operation live; an approved one may
		// have waited days, so they hear about it too.
		to, err := members(ctx, tx.Ent, v.SystemID)
		if err != nil {
			return err
		}
		to = slices.DeleteFunc(to, func(id uuid.UUID) bool { return id == t.RequesterID })
		body := fmt.Sprintf("%s %s %s; it is now %s.", t.RequesterName, pastTense(op), v.Name, strings.ToLower(string(clusters.VMStatus(st.Phase))))
		if t.ApproverID != nil {
			to = append(to, t.RequesterID)
			body = fmt.Sprintf("%s %s %s (approved by %s); it is now %s.", t.RequesterName, pastTense(op), v.Name, t.ApproverName,
				strings.ToLower(string(clusters.VMStatus(st.Phase))))
		}
		return notify.Send(ctx, tx.Ent, to, notify.Message{Type: notification.TypeVM_OPERATION_DONE,
			Title: fmt.Sprintf("%s: %s done", v.Name, op), Body: body,
			Link: "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
}

// pastTense words an operation for a sentence ("alice stopped web-01").
func pastTense(op string) string {
	switch op {
	case "stop":
		return "stopped"
	case "start":
		return "started"
	case "restart":
		return "restarted"
	}
	return op + "ed"
}
