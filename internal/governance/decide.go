package governance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs/vmcreate"
	"kv-shepherd.io/shepherd/internal/notify"
)

// ErrNotFound is answered for tickets the user may not see (404, never 403).
var ErrNotFound = domain.Errf(domain.CodeNotFound, "", "There is no such request.")

// ticket loads a ticket; a missing one is ErrNotFound.
func (s *Service) ticket(ctx context.Context, id uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := s.Store.Ent.ApprovalTicket.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return t, err
}

// DecisionTicket loads a ticket an approver may decide, checking their rights.
func (s *Service) DecisionTicket(ctx context.Context, who Requester, id uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := s.ticket(ctx, id)
	if err != nil {
		return nil, err
	}
	env := string(t.Environment)
	if !who.Principal.HasIn(authz.ApprovalView, env) && !who.Principal.HasIn(authz.ApprovalApprove, env) {
		return nil, ErrNotFound
	}
	return t, nil
}

func (s *Service) checkDecider(ctx context.Context, who Requester, t *ent.ApprovalTicket, action string) error {
	if !who.Principal.HasIn(authz.ApprovalApprove, string(t.Environment)) {
		return domain.Errf(domain.CodeForbidden, "", "You may view this request but not decide it (approval:approve in %s is needed).", t.Environment)
	}
	if t.RequesterID == who.User.ID {
		err := audit.Write(ctx, s.Store.Ent, audit.Entry{Action: "approval.self_" + action + "_refused", ActorID: &who.User.ID,
			ActorName: who.User.Username, ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: t.TargetName,
			Environment: string(t.Environment)})
		if err != nil {
			return err
		}
		return domain.Errf(domain.CodeSelfApproval, "", "You cannot decide your own request; another approver must. (You can cancel it from My requests.)")
	}
	return nil
}

// lockPending locks the ticket row and requires it to be undecided, so two approvers
// clicking at once get exactly one decision.
func lockPending(ctx context.Context, tx *db.Tx, id uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := tx.Ent.ApprovalTicket.Query().Where(approvalticket.ID(id)).ForUpdate().Only(ctx)
	if err != nil {
		return nil, err
	}
	if t.Status != approvalticket.StatusPENDING_APPROVAL {
		return nil, alreadyDecided(t)
	}
	return t, nil
}

// alreadyDecided is the stale-ticket error of a ticket no longer pending.
func alreadyDecided(t *ent.ApprovalTicket) error {
	by := ""
	if t.ApproverName != "" {
		by = " by " + t.ApproverName
	}
	word := strings.ToLower(strings.ReplaceAll(string(t.Status), "_", " "))
	switch t.Status {
	case approvalticket.StatusEXECUTING, approvalticket.StatusSUCCESS, approvalticket.StatusFAILED:
		word = "approved" // and carried out since; the approval is what the person raced
	}
	return domain.Errf(domain.CodeStaleTicket, "", "This request was already %s%s; nothing was changed.", word, by)
}

// Approve decides a pending VM create request. One transaction: ticket APPROVED with
// snapshots and final values, event PROCESSING, the VM row (CREATING, generated name
// from the service's monotonic counter), the River job, audit and the requester's
// notification. The cluster is not called here; the job does that.
func (s *Service) Approve(ctx context.Context, who Requester, in ApproveInput) (*ent.VM, error) {
	t, err := s.DecisionTicket(ctx, who, in.TicketID)
	if err != nil {
		return nil, err
	}
	if err := s.checkDecider(ctx, who, t, "approve"); err != nil {
		return nil, err
	}
	if (in.Namespace != "" && in.Namespace != t.NamespaceName) || (in.ServiceID != "" && in.ServiceID != t.ServiceID.String()) {
		return nil, domain.Errf(domain.CodeForbiddenField, "", "The namespace and service of a request cannot be changed by the approver. Reject it if they are wrong.")
	}
	if t.Type != approvalticket.TypeVM_CREATE {
		return nil, domain.Errf(domain.CodeInvalidInput, "", "Only VM create requests can be approved here.")
	}
	plan, err := s.PlanApproval(ctx, t, in)
	if err != nil {
		return nil, err
	}
	if plan.Blocked() {
		return nil, plan.Errors.Err()
	}
	if s.afterPlan != nil {
		s.afterPlan()
	}
	var created *ent.VM
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := lockPending(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		created, err = s.createApproved(ctx, tx, t, plan, decider{
			userID:   &who.User.ID,
			name:     who.User.Username,
			reason:   strings.TrimSpace(in.ModificationReason),
			action:   "approval.approve",
			approved: who.User.Username + " approved",
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// decider is who approves a VM create: a person, or an auto-approval policy version.
type decider struct {
	userID        *uuid.UUID
	name          string // the user, or "policy NAME (vN)"
	policyID      *uuid.UUID
	policyVersion int
	reason        string
	action        string         // the audit action
	approved      string         // "bob approved", for the requester's notification
	details       map[string]any // extra audit details
	// quiet leaves the requester's notification to the caller (a batch approval sends
	// one for all its children).
	quiet bool
}

// createApproved is the approval's write set, shared by an approver's decision and an
// auto-approval at submit, inside the caller's transaction on a locked, pending ticket:
// the VM row (CREATING, generated name), ticket APPROVED with snapshots and final values,
// event PROCESSING, the River job, audit and the requester's notification.
func (s *Service) createApproved(ctx context.Context, tx *db.Tx, t *ent.ApprovalTicket, plan *Plan, d decider) (*ent.VM, error) {
	// The chosen cluster must still be in service. The share lock makes a cluster
	// deletion racing this approval wait for it, and then refuse: it sees the VM.
	k, err := tx.Ent.Cluster.Query().Where(cluster.ID(plan.Cluster.ID)).ForShare().Only(ctx)
	if err != nil {
		return nil, err
	}
	if k.DeletedAt != nil || !k.Enabled {
		return nil, domain.Errf(domain.CodeClusterUnhealthy, "cluster_id", "Cluster %s was disabled or deleted meanwhile; choose another.", k.Name)
	}
	svc, err := tx.Ent.Service.Query().Where(service.ID(t.ServiceID)).WithSystem().ForUpdate().Only(ctx)
	if err != nil {
		return nil, err
	}
	index := svc.NextInstanceIndex
	if err := tx.Ent.Service.UpdateOneID(svc.ID).SetNextInstanceIndex(index + 1).Exec(ctx); err != nil {
		return nil, err
	}
	name := domain.VMName(t.NamespaceName, svc.Edges.System.Name, svc.Name, index)
	if len(name) > domain.VMNameMaxLength {
		return nil, domain.Errf(domain.CodeVMNameTooLong, "", "The generated VM name %q is longer than %d characters.", name, domain.VMNameMaxLength)
	}
	now := s.now()
	created, err := tx.Ent.VM.Create().SetName(name).SetServiceID(svc.ID).SetSystemID(svc.SystemID).
		SetNamespaceID(t.NamespaceID).SetNamespaceName(t.NamespaceName).SetEnvironment(vm.Environment(t.Environment)).
		SetClusterID(plan.Cluster.ID).SetInstanceIndex(index).SetInstanceSizeID(plan.Size.ID).SetInstanceSizeName(plan.Size.Name).
		SetTemplateID(plan.Template.ID).SetTicketID(t.ID).SetStatus(vm.StatusCREATING).
		SetCPUCores(plan.Size.CPUCores).SetMemoryMib(plan.Size.MemoryMib).SetDiskGB(plan.DiskGB).
		SetStorageClass(plan.StorageClass).SetCreatedBy(t.RequesterID).Save(ctx)
	if err != nil {
		return nil, err
	}
	upd := tx.Ent.ApprovalTicket.UpdateOneID(t.ID).SetStatus(approvalticket.StatusAPPROVED).
		SetNillableApproverID(d.userID).SetApproverName(d.name).SetDecidedAt(now).
		SetSelectedClusterID(plan.Cluster.ID).SetSelectedTemplateID(plan.Template.ID).SetSelectedStorageClass(plan.StorageClass).
		SetModifiedSpec(plan.Spec(t)).SetModificationReason(d.reason).
		SetTemplateSnapshot(templateSnapshot(plan.Template)).SetInstanceSizeSnapshot(sizeSnapshot(plan, now)).
		SetFinalCPURequest(plan.CPURequest).SetFinalCPULimit(plan.CPULimit).
		SetFinalMemRequest(plan.MemRequest).SetFinalMemLimit(plan.MemLimit).SetFinalDiskGB(plan.DiskGB).
		SetVMID(created.ID)
	if d.policyID != nil {
		upd = upd.SetDecidedByPolicyID(*d.policyID).SetDecidedByPolicyVersion(d.policyVersion)
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, err
	}
	if err := tx.Ent.DomainEvent.UpdateOneID(t.EventID).Where(domainevent.StatusEQ(domainevent.StatusPENDING)).
		SetStatus(domainevent.StatusPROCESSING).Exec(ctx); err != nil {
		return nil, err
	}
	if _, err := s.Jobs.InsertTx(ctx, tx.SQL, vmcreate.Args{EventID: t.EventID}, nil); err != nil {
		return nil, fmt.Errorf("enqueue provisioning: %w", err)
	}
	if s.afterJobInsert != nil {
		if err := s.afterJobInsert(); err != nil {
			return nil, err
		}
	}
	details := map[string]any{"vm": name, "cluster": plan.Cluster.Name,
		"storage_class": plan.StorageClass, "template": plan.Template.Name, "template_version": plan.Template.Version,
		"disk_gb": plan.DiskGB, "cpu": plan.CPURequest + "/" + plan.CPULimit, "memory": plan.MemRequest + "/" + plan.MemLimit}
	for k, v := range d.details {
		details[k] = v
	}
	if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: d.action, ActorID: d.userID, ActorName: d.name,
		ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: t.TargetName, ParentType: "service", ParentID: t.ServiceID.String(),
		Environment: string(t.Environment), Details: details}); err != nil {
		return nil, err
	}
	if d.quiet {
		return created, nil
	}
	err = notify.Send(ctx, tx.Ent, []uuid.UUID{t.RequesterID}, notify.Message{Type: notification.TypeREQUEST_APPROVED,
		Title: "Approved: " + name, Body: fmt.Sprintf("%s your VM request for %s. It is being created on %s.", d.approved, t.TargetName, plan.Cluster.Name),
		Link: "/requests/" + t.ID.String(), TicketID: &t.ID})
	if err != nil {
		return nil, err
	}
	err = tellOwners(ctx, tx.Ent, t.SystemID, skipList(t.RequesterID, d.userID), notify.Message{Type: notification.TypeREQUEST_APPROVED,
		Title: "Approved: " + name,
		Body:  fmt.Sprintf("%s %s VM request for %s. It is being created on %s.", d.approved, whose(t.RequesterName), t.TargetName, plan.Cluster.Name),
		Link:  "/requests/" + t.ID.String(), TicketID: &t.ID})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// Reject decides a pending request negatively; the reason is required and shown to the requester.
func (s *Service) Reject(ctx context.Context, who Requester, id uuid.UUID, reason string) error {
	t, err := s.DecisionTicket(ctx, who, id)
	if err != nil {
		return err
	}
	if err := s.checkDecider(ctx, who, t, "reject"); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &domain.ValidationError{Fields: domain.FieldErrors{"reason": "Tell the requester why (for example: wrong namespace, choose a smaller size)."}}
	}
	if len(reason) > MaxReasonLength {
		return &domain.ValidationError{Fields: domain.FieldErrors{"reason": fmt.Sprintf("Keep it under %d characters.", MaxReasonLength)}}
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := lockPending(ctx, tx, id)
		if err != nil {
			return err
		}
		action, title, body := "approval.reject", "Rejected: "+t.TargetName, fmt.Sprintf("%s rejected your request: %s", who.User.Username, reason)
		if t.Type == approvalticket.TypeVNC_ACCESS {
			action, title = "vnc.deny", "Console access denied: "+t.TargetName
			body = fmt.Sprintf("%s denied your console access request for %s: %s", who.User.Username, t.TargetName, reason)
		}
		if err := s.close(ctx, tx, t, who.User, approvalticket.StatusREJECTED, reason, action, notification.TypeREQUEST_REJECTED, title, body); err != nil {
			return err
		}
		return tellOwners(ctx, tx.Ent, t.SystemID, skipList(t.RequesterID, &who.User.ID), notify.Message{Type: notification.TypeREQUEST_REJECTED,
			Title: title, Body: fmt.Sprintf("%s rejected %s request for %s: %s", who.User.Username, whose(t.RequesterName), t.TargetName, reason),
			Link: "/requests/" + t.ID.String(), TicketID: &t.ID})
	})
}

// Cancel withdraws a pending request: by its requester, or an owner/admin of the System.
func (s *Service) Cancel(ctx context.Context, who Requester, id uuid.UUID, reason string) error {
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := tx.Ent.ApprovalTicket.Get(ctx, id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		mine := t.RequesterID == who.User.ID
		if !mine && who.Principal.Check(authz.VMCreate, authz.Update, t.SystemID, string(t.Environment)) != authz.Allow {
			if who.Principal.Check(authz.VMRead, authz.View, t.SystemID, string(t.Environment)) == authz.Allow {
				return domain.Errf(domain.CodeForbidden, "", "Only the requester or an owner/admin of the System can cancel this request.")
			}
			return ErrNotFound
		}
		if t, err = lockPending(ctx, tx, id); err != nil {
			return err
		}
		reason = strings.TrimSpace(reason)
		return s.close(ctx, tx, t, who.User, approvalticket.StatusCANCELLED, reason, "approval.cancel", notification.TypeREQUEST_CANCELLED,
			"Cancelled: "+t.TargetName, fmt.Sprintf("%s cancelled the request.", who.User.Username))
	})
}

// close ends a pending ticket without a VM: ticket and event closed, audit, notification.
func (s *Service) close(ctx context.Context, tx *db.Tx, t *ent.ApprovalTicket, actor *ent.User, status approvalticket.Status,
	reason, action string, nt notification.Type, title, body string) error {
	if err := s.closeRows(ctx, tx, t, actor, status, reason, action, nil); err != nil {
		return err
	}
	var to []uuid.UUID
	if t.RequesterID != actor.ID {
		to = append(to, t.RequesterID)
	}
	return notify.Send(ctx, tx.Ent, to, notify.Message{Type: nt, Title: title, Body: body, Link: "/requests/" + t.ID.String(), TicketID: &t.ID})
}

// closeRows is close without the notification: ticket and event closed, audit.
func (s *Service) closeRows(ctx context.Context, tx *db.Tx, t *ent.ApprovalTicket, actor *ent.User, status approvalticket.Status,
	reason, action string, extra map[string]any) error {
	upd := tx.Ent.ApprovalTicket.UpdateOneID(t.ID).SetStatus(status).SetDecidedAt(s.now()).SetDecisionReason(reason)
	if status == approvalticket.StatusREJECTED {
		upd = upd.SetApproverID(actor.ID).SetApproverName(actor.Username)
	}
	if err := upd.Exec(ctx); err != nil {
		return err
	}
	if err := tx.Ent.DomainEvent.UpdateOneID(t.EventID).SetStatus(domainevent.StatusCANCELLED).Exec(ctx); err != nil {
		return err
	}
	details := map[string]any{"reason": reason}
	for k, v := range extra {
		details[k] = v
	}
	if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: action, ActorID: &actor.ID, ActorName: actor.Username,
		ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: t.TargetName, ParentType: "service", ParentID: t.ServiceID.String(),
		Environment: string(t.Environment), Details: details}); err != nil {
		return err
	}
	return nil
}

func templateSnapshot(t *ent.Template) map[string]any {
	return map[string]any{"id": t.ID.String(), "name": t.Name, "version": t.Version, "source_type": string(t.SourceType),
		"image": t.Image, "pvc_namespace": t.PvcNamespace, "pvc_name": t.PvcName, "cloud_init": t.CloudInit}
}

func sizeSnapshot(p *Plan, now time.Time) map[string]any {
	s := p.Size
	return map[string]any{"id": s.ID.String(), "name": s.Name, "display_name": s.DisplayName, "cpu_cores": s.CPUCores,
		"memory_mib": s.MemoryMib, "dedicated_cpu": s.DedicatedCPU, "hugepages_size": s.HugepagesSize,
		"gpu_devices": s.GpuDevices, "requires_gpu": s.RequiresGpu, "spec_overrides": s.SpecOverrides,
		"final_cpu_request": p.CPURequest, "final_cpu_limit": p.CPULimit, "final_mem_request": p.MemRequest,
		"final_mem_limit": p.MemLimit, "snapshot_at": now.UTC().Format(time.RFC3339)}
}
