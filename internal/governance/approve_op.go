package governance

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs/vmdelete"
	"kv-shepherd.io/shepherd/internal/jobs/vmpower"
	"kv-shepherd.io/shepherd/internal/notify"
)

// ApproveOperation decides a pending start, stop, restart or delete ticket. Same rights
// and self-approval rule as Approve; the VM's state is checked again with its row locked.
// One transaction: ticket APPROVED, event PROCESSING, for a delete the VM DELETING, the
// job, audit and the requester's notification.
func (s *Service) ApproveOperation(ctx context.Context, who Requester, ticketID uuid.UUID, comment string) error {
	t, err := s.DecisionTicket(ctx, who, ticketID)
	if err != nil {
		return err
	}
	if err := s.checkDecider(ctx, who, t, "approve"); err != nil {
		return err
	}
	o, ok := operationOf(t.Type)
	if !ok || t.VMID == nil {
		return domain.Errf(domain.CodeInvalidInput, "", "Only start, stop, restart and delete requests are approved here.")
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > MaxReasonLength {
		return &domain.ValidationError{Fields: domain.FieldErrors{"comment": fmt.Sprintf("Keep it under %d characters.", MaxReasonLength)}}
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := lockPending(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		v, err := tx.Ent.VM.Query().Where(vm.ID(*t.VMID)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		if !o.Allows(v) {
			return o.stateConflict(v)
		}
		if running, err := tx.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(v.ID), approvalticket.StatusIn(
			approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).First(ctx); err == nil {
			return inProgress(v, running.Type)
		} else if !ent.IsNotFound(err) {
			return err
		}
		err = tx.Ent.ApprovalTicket.UpdateOneID(t.ID).SetStatus(approvalticket.StatusAPPROVED).SetApproverID(who.User.ID).
			SetApproverName(who.User.Username).SetDecidedAt(s.now()).SetDecisionReason(comment).Exec(ctx)
		if err != nil {
			return indexConflict(err, v, o)
		}
		if err := tx.Ent.DomainEvent.UpdateOneID(t.EventID).Where(domainevent.StatusEQ(domainevent.StatusPENDING)).
			SetStatus(domainevent.StatusPROCESSING).Exec(ctx); err != nil {
			return err
		}
		var job river.JobArgs = vmpower.Args{EventID: t.EventID}
		if o.Op == "delete" {
			job = vmdelete.Args{EventID: t.EventID}
			if err := tx.Ent.VM.UpdateOneID(v.ID).SetStatus(vm.StatusDELETING).SetStatusMessage("deletion approved by " + who.User.Username).Exec(ctx); err != nil {
				return err
			}
			if err := s.cancelMoot(ctx, tx, who, v, t.ID); err != nil {
				return err
			}
		}
		if _, err := s.Jobs.InsertTx(ctx, tx.SQL, job, nil); err != nil {
			return fmt.Errorf("enqueue %s: %w", job.Kind(), err)
		}
		if s.afterJobInsert != nil {
			if err := s.afterJobInsert(); err != nil {
				return err
			}
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "approval.approve", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: t.TargetName, ParentType: "service", ParentID: t.ServiceID.String(),
			Environment: string(t.Environment), Details: map[string]any{"vm": v.Name, "op": o.Op, "comment": comment, "status": string(v.Status)}}); err != nil {
			return err
		}
		if err := notify.Send(ctx, tx.Ent, []uuid.UUID{t.RequesterID}, notify.Message{Type: notification.TypeREQUEST_APPROVED,
			Title: fmt.Sprintf("Approved: %s %s", o.Op, v.Name),
			Body:  fmt.Sprintf("%s approved your request to %s %s. It is being done now.", who.User.Username, o.Op, v.Name),
			Link:  "/vms/" + v.ID.String(), TicketID: &t.ID}); err != nil {
			return err
		}
		return tellOwners(ctx, tx.Ent, t.SystemID, skipList(t.RequesterID, &who.User.ID), notify.Message{Type: notification.TypeREQUEST_APPROVED,
			Title: fmt.Sprintf("Approved: %s %s", o.Op, v.Name),
			Body:  fmt.Sprintf("%s approved %s request to %s %s. It is being done now.", who.User.Username, whose(t.RequesterName), o.Op, v.Name),
			Link:  "/vms/" + v.ID.String(), TicketID: &t.ID})
	})
}

// cancelMoot closes the VM's other pending requests once its deletion is approved: they
// could never be carried out, and approvers should not find them in the inbox.
func (s *Service) cancelMoot(ctx context.Context, tx *db.Tx, who Requester, v *ent.VM, keep uuid.UUID) error {
	moot, err := tx.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(v.ID), approvalticket.IDNEQ(keep),
		approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).ForUpdate().All(ctx)
	if err != nil {
		return err
	}
	for _, t := range moot {
		reason := v.Name + " is being deleted."
		if err := s.close(ctx, tx, t, who.User, approvalticket.StatusCANCELLED, reason, "approval.cancel", notification.TypeREQUEST_CANCELLED,
			"Cancelled: "+t.TargetName, fmt.Sprintf("Your %s request was cancelled: %s", requestNoun(t.Type), reason)); err != nil {
			return err
		}
	}
	return nil
}
