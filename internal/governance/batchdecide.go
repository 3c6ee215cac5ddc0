package governance

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/ticketbatch"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs/vmcreate"
	"kv-shepherd.io/shepherd/internal/notify"
)

// decidableBatch loads a batch its approver may decide, refusing (and auditing) a
// requester deciding their own batch.
func (s *Service) decidableBatch(ctx context.Context, who Requester, id uuid.UUID, action string) (*BatchView, error) {
	v, err := s.BatchFor(ctx, who, id)
	if err != nil {
		return nil, err
	}
	b := v.Batch
	env := string(b.Environment)
	if b.RequesterID == who.User.ID {
		if err := audit.Write(ctx, s.Store.Ent, audit.Entry{Action: "approval.self_batch_" + action + "_refused", ActorID: &who.User.ID,
			ActorName: who.User.Username, ResourceType: "batch", ResourceID: b.ID.String(), ResourceName: b.TargetName,
			Environment: env}); err != nil {
			return nil, err
		}
		return nil, domain.Errf(domain.CodeSelfApproval, "", "You cannot decide your own request; another approver must.")
	}
	if !CanDecideBatch(who, b) {
		return nil, domain.Errf(domain.CodeForbidden, "", "You may view this batch but not decide it (approval:approve in %s is needed).", env)
	}
	return v, nil
}

// lockPendingChildren locks the batch's undecided children, oldest first. None left
// means someone decided them all meanwhile.
func lockPendingChildren(ctx context.Context, tx *db.Tx, b *ent.TicketBatch) ([]*ent.ApprovalTicket, error) {
	ts, err := tx.Ent.ApprovalTicket.Query().
		Where(approvalticket.BatchID(b.ID), approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).
		Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).ForUpdate().All(ctx)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, domain.Errf(domain.CodeStaleTicket, "", "Every VM of this batch was already decided; nothing was changed.")
	}
	return ts, nil
}

// ApproveBatch approves every still-pending child of a batch with the approver's one
// choice of cluster, storage class, template version and resources, in one transaction:
// per child what Approve writes (its own VM row with its own generated name, ticket
// APPROVED, event PROCESSING, its River job, its audit row), then the batch's audit row
// and one notification to the requester. It returns how many VMs it approved.
func (s *Service) ApproveBatch(ctx context.Context, who Requester, id uuid.UUID, in ApproveInput) (int, error) {
	v, err := s.decidableBatch(ctx, who, id, "approve")
	if err != nil {
		return 0, err
	}
	b := v.Batch
	if b.Type != ticketbatch.TypeVM_CREATE {
		return 0, domain.Errf(domain.CodeInvalidInput, "", "Only VM create batches can be approved here.")
	}
	var sample *ent.ApprovalTicket
	for _, c := range v.Children {
		if c.Status == approvalticket.StatusPENDING_APPROVAL {
			sample = c
			break
		}
	}
	if sample == nil {
		return 0, domain.Errf(domain.CodeStaleTicket, "", "Every VM of this batch was already decided; nothing was changed.")
	}
	if (in.Namespace != "" && in.Namespace != b.NamespaceName) || (in.ServiceID != "" && in.ServiceID != b.ServiceID.String()) {
		return 0, domain.Errf(domain.CodeForbiddenField, "", "The namespace and service of a request cannot be changed by the approver. Reject it if they are wrong.")
	}
	// The children ask for the same thing, so one plan places them all.
	in.TicketID = sample.ID
	plan, err := s.PlanApproval(ctx, sample, in)
	if err != nil {
		return 0, err
	}
	if plan.Blocked() {
		return 0, plan.Errors.Err()
	}
	var names []string
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		children, err := lockPendingChildren(ctx, tx, b)
		if err != nil {
			return err
		}
		names = names[:0]
		for _, t := range children {
			created, err := s.createApproved(ctx, tx, t, plan, decider{
				userID:   &who.User.ID,
				name:     who.User.Username,
				reason:   strings.TrimSpace(in.ModificationReason),
				action:   "approval.approve",
				approved: who.User.Username + " approved",
				details:  map[string]any{"batch_id": b.ID.String()},
				quiet:    true,
			})
			if err != nil {
				return err
			}
			names = append(names, created.Name)
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "approval.batch_approve", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "batch", ResourceID: b.ID.String(), ResourceName: b.TargetName, ParentType: "service", ParentID: b.ServiceID.String(),
			Environment: string(b.Environment), Details: map[string]any{"approved": len(names), "vms": names, "cluster": plan.Cluster.Name,
				"storage_class": plan.StorageClass, "template_version": plan.Template.Version, "disk_gb": plan.DiskGB}}); err != nil {
			return err
		}
		if err := notify.Send(ctx, tx.Ent, []uuid.UUID{b.RequesterID}, notify.Message{Type: notification.TypeREQUEST_APPROVED,
			Title: fmt.Sprintf("Approved: %d VMs for %s", len(names), b.TargetName),
			Body:  fmt.Sprintf("%s approved your batch request. %s are being created on %s.", who.User.Username, strings.Join(names, ", "), plan.Cluster.Name),
			Link:  "/batches/" + b.ID.String()}); err != nil {
			return err
		}
		return tellOwners(ctx, tx.Ent, b.SystemID, skipList(b.RequesterID, &who.User.ID), notify.Message{Type: notification.TypeREQUEST_APPROVED,
			Title: fmt.Sprintf("Approved: %d VMs for %s", len(names), b.TargetName),
			Body: fmt.Sprintf("%s approved %s batch request. %s are being created on %s.", who.User.Username, whose(b.RequesterName),
				strings.Join(names, ", "), plan.Cluster.Name),
			Link: "/batches/" + b.ID.String()})
	})
	if err != nil {
		return 0, err
	}
	return len(names), nil
}

// RejectBatch rejects every still-pending child of a batch with the approver's reason,
// in one transaction, with an audit row per child and for the batch and one
// notification to the requester.
func (s *Service) RejectBatch(ctx context.Context, who Requester, id uuid.UUID, reason string) (int, error) {
	v, err := s.decidableBatch(ctx, who, id, "reject")
	if err != nil {
		return 0, err
	}
	b := v.Batch
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return 0, &domain.ValidationError{Fields: domain.FieldErrors{"reason": "Tell the requester why (for example: wrong namespace, choose a smaller size)."}}
	}
	if len(reason) > MaxReasonLength {
		return 0, &domain.ValidationError{Fields: domain.FieldErrors{"reason": fmt.Sprintf("Keep it under %d characters.", MaxReasonLength)}}
	}
	n := 0
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		children, err := lockPendingChildren(ctx, tx, b)
		if err != nil {
			return err
		}
		for _, t := range children {
			if err := s.closeRows(ctx, tx, t, who.User, approvalticket.StatusREJECTED, reason, "approval.reject",
				map[string]any{"batch_id": b.ID.String()}); err != nil {
				return err
			}
		}
		n = len(children)
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "approval.batch_reject", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "batch", ResourceID: b.ID.String(), ResourceName: b.TargetName, ParentType: "service", ParentID: b.ServiceID.String(),
			Environment: string(b.Environment), Details: map[string]any{"rejected": n, "reason": reason}}); err != nil {
			return err
		}
		if err := notify.Send(ctx, tx.Ent, []uuid.UUID{b.RequesterID}, notify.Message{Type: notification.TypeREQUEST_REJECTED,
			Title: fmt.Sprintf("Rejected: %d VMs for %s", n, b.TargetName),
			Body:  fmt.Sprintf("%s rejected your batch request: %s", who.User.Username, reason),
			Link:  "/batches/" + b.ID.String()}); err != nil {
			return err
		}
		return tellOwners(ctx, tx.Ent, b.SystemID, skipList(b.RequesterID, &who.User.ID), notify.Message{Type: notification.TypeREQUEST_REJECTED,
			Title: fmt.Sprintf("Rejected: %d VMs for %s", n, b.TargetName),
			Body:  fmt.Sprintf("%s rejected %s batch request: %s", who.User.Username, whose(b.RequesterName), reason),
			Link:  "/batches/" + b.ID.String()})
	})
	return n, err
}

// RetryBatch re-queues the batch's failed children, and only those, in one transaction:
// each failed ticket goes back to APPROVED with its error and steps cleared, its event
// back to PROCESSING, its VM (same row, same name) back to CREATING, and a new River
// job; an audit row per child and one for the batch. A child whose VM was deleted or
// has another operation under way meanwhile is left alone. Refused when nothing failed.
// Allowed to the requester and to whoever could approve the batch.
func (s *Service) RetryBatch(ctx context.Context, who Requester, id uuid.UUID) (int, error) {
	v, err := s.BatchFor(ctx, who, id)
	if err != nil {
		return 0, err
	}
	b := v.Batch
	if !CanRetryBatch(who, b) {
		return 0, domain.Errf(domain.CodeForbidden, "", "Only the requester or an approver can retry this batch.")
	}
	n := 0
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		failed, err := tx.Ent.ApprovalTicket.Query().
			Where(approvalticket.BatchID(b.ID), approvalticket.StatusEQ(approvalticket.StatusFAILED)).
			Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).ForUpdate().All(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, t := range failed {
			name, ok, err := s.requeue(ctx, tx, who, t)
			if err != nil {
				return err
			}
			if ok {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return domain.Errf(domain.CodeInvalidInput, "", "Nothing in this batch can be retried: no VM of it has failed (or the failed ones were deleted since).")
		}
		n = len(names)
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.batch_retry", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "batch", ResourceID: b.ID.String(), ResourceName: b.TargetName, ParentType: "service", ParentID: b.ServiceID.String(),
			Environment: string(b.Environment), Details: map[string]any{"retried": n, "vms": names}})
	})
	return n, err
}

// requeue puts one failed create back in the queue; ok is false when its VM is gone or
// busy with another operation.
func (s *Service) requeue(ctx context.Context, tx *db.Tx, who Requester, t *ent.ApprovalTicket) (string, bool, error) {
	if t.Type != approvalticket.TypeVM_CREATE || t.VMID == nil {
		return "", false, nil
	}
	x, err := tx.Ent.VM.Query().Where(vm.ID(*t.VMID)).ForUpdate().Only(ctx)
	if err != nil {
		return "", false, err
	}
	if x.Status != vm.StatusFAILED || x.DeletedAt != nil {
		return "", false, nil
	}
	busy, err := tx.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(x.ID), approvalticket.IDNEQ(t.ID),
		approvalticket.StatusIn(approvalticket.StatusPENDING_APPROVAL, approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).Exist(ctx)
	if err != nil || busy {
		return "", false, err
	}
	previous := t.ErrorMessage
	if err := tx.Ent.ApprovalTicket.UpdateOneID(t.ID).SetStatus(approvalticket.StatusAPPROVED).
		SetErrorMessage("").SetErrorCode("").ClearSteps().ClearExecutedAt().Exec(ctx); err != nil {
		return "", false, err
	}
	if err := tx.Ent.DomainEvent.UpdateOneID(t.EventID).SetStatus(domainevent.StatusPROCESSING).
		SetErrorMessage("").ClearProcessedAt().Exec(ctx); err != nil {
		return "", false, err
	}
	if err := tx.Ent.VM.UpdateOneID(x.ID).SetStatus(vm.StatusCREATING).SetStatusMessage("").Exec(ctx); err != nil {
		return "", false, err
	}
	if _, err := s.Jobs.InsertTx(ctx, tx.SQL, vmcreate.Args{EventID: t.EventID}, nil); err != nil {
		return "", false, fmt.Errorf("enqueue provisioning: %w", err)
	}
	err = audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.retry", ActorID: &who.User.ID, ActorName: who.User.Username,
		ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: x.Name, ParentType: "service", ParentID: t.ServiceID.String(),
		Environment: string(t.Environment), Details: map[string]any{"vm": x.Name, "previous_error": previous, "batch_id": t.BatchID.String()}})
	return x.Name, err == nil, err
}
