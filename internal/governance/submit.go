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
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/internal/policy"
)

// ForbiddenRequestFields may never be set by a requester: the platform names VMs, owns
// their labels and cloud-init, and approvers choose the cluster.
var ForbiddenRequestFields = []string{"name", "labels", "cloud_init", "cluster_id", "cluster"}

// MaxReasonLength bounds the business justification.
const MaxReasonLength = 2000

// RequestInput is a VM create request as the requester submits it.
type RequestInput struct {
	ServiceID   uuid.UUID
	NamespaceID uuid.UUID
	TemplateID  uuid.UUID
	SizeID      uuid.UUID
	DiskGB      int
	Reason      string
	// Forbidden lists forbidden fields that were present in the submitted form.
	Forbidden []string
}

// Requester is who acts: their account and resolved permissions.
type Requester struct {
	User      *ent.User
	Principal *authz.Principal
}

// DuplicateError points at the pending ticket that already asks for the same thing.
type DuplicateError struct{ TicketID uuid.UUID }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: ticket %s is already pending", domain.CodeDuplicatePending, e.TicketID)
}

// Submit validates a VM request and, in one transaction, writes the immutable event
// (PENDING), the ticket (PENDING_APPROVAL), the audit row and the approvers'
// notifications. No job is inserted: nothing touches a cluster before approval — unless
// an auto-approval policy matches (autoapprove.go): then the same transaction approves
// it, with the VM row and the job, and the returned ticket is APPROVED.
func (s *Service) Submit(ctx context.Context, who Requester, in RequestInput) (*ent.ApprovalTicket, error) {
	r, err := s.checkRequest(ctx, who, in)
	if err != nil {
		return nil, err
	}
	var ticket *ent.ApprovalTicket
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := r.lockAndCheckDuplicate(ctx, tx, who); err != nil {
			return err
		}
		ticket, err = r.write(ctx, tx, who, nil)
		if err != nil {
			return err
		}
		auto, err := s.autoApprove(ctx, tx, who, ticket, policy.Request{
			Environment:  r.env,
			NamespaceID:  r.ns.ID,
			SystemID:     r.svc.SystemID,
			ServiceID:    r.svc.ID,
			Size:         r.size,
			TemplateName: r.tpl.Name,
			Roles:        policy.RolesIn(who.Principal, r.env),
			DiskGB:       r.diskGB,
		})
		if err != nil || auto != nil {
			ticket = auto
			return err
		}
		approvers, err := notify.HoldersOf(ctx, tx.Ent, authz.ApprovalApprove, r.env)
		if err != nil {
			return err
		}
		approvers = without(approvers, who.User.ID)
		return notify.Send(ctx, tx.Ent, approvers, notify.Message{Type: notification.TypeAPPROVAL_REQUIRED,
			Title: fmt.Sprintf("VM request for %s in %s", r.target(), r.ns.Name),
			Body:  fmt.Sprintf("%s asks for a %s VM (%s, %d GB disk): %s", who.User.Username, r.size.Name, r.tpl.Name, r.diskGB, truncate(r.reason, 200)),
			Link:  "/approvals/" + ticket.ID.String(), TicketID: &ticket.ID})
	})
	return ticket, err
}

// checkedRequest is a request that passed validation, with what it names loaded.
type checkedRequest struct {
	svc    *ent.Service // with its System
	ns     *ent.Namespace
	tpl    *ent.Template
	size   *ent.InstanceSize
	env    string
	reason string
	diskGB int
}

func (r *checkedRequest) target() string { return r.svc.Edges.System.Name + "/" + r.svc.Name }

// checkRequest validates a VM create request outside any transaction: forbidden fields,
// the chosen entities, the requester's rights and the VM name guard.
func (s *Service) checkRequest(ctx context.Context, who Requester, in RequestInput) (*checkedRequest, error) {
	if len(in.Forbidden) > 0 {
		return nil, domain.Errf(domain.CodeForbiddenField, "", "These fields cannot be set in a request: %s. The platform names the VM and the approver chooses the cluster.",
			strings.Join(in.Forbidden, ", "))
	}
	client := s.Store.Ent
	fe := domain.FieldErrors{}
	svc, err := client.Service.Query().Where(service.ID(in.ServiceID), service.DeletedAtIsNil()).WithSystem().Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if svc == nil || svc.Edges.System == nil || svc.Edges.System.DeletedAt != nil ||
		who.Principal.Check(authz.VMRead, authz.View, svc.SystemID, "") == authz.Invisible {
		fe.Add("service_id", "Choose one of your services.")
	}
	ns, err := client.Namespace.Get(ctx, in.NamespaceID)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if ns == nil || !ns.Enabled || !who.Principal.HasIn(authz.VMCreate, string(ns.Environment)) {
		fe.Add("namespace_id", "Choose a namespace you may use.")
	}
	tpl, err := client.Template.Get(ctx, in.TemplateID)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if tpl == nil || tpl.Status != template.StatusActive {
		fe.Add("template_id", "Choose an active template.")
	}
	size, err := client.InstanceSize.Get(ctx, in.SizeID)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if size == nil || !size.Enabled {
		fe.Add("size_id", "Choose an available size.")
	} else if in.DiskGB < size.DiskMinGB || in.DiskGB > size.DiskMaxGB {
		fe.Add("disk_gb", fmt.Sprintf("Disk must be between %d and %d GB for this size.", size.DiskMinGB, size.DiskMaxGB))
	}
	reason := strings.TrimSpace(in.Reason)
	switch {
	case reason == "":
		fe.Add("reason", "Say why you need this VM; approvers decide on it.")
	case len(reason) > MaxReasonLength:
		fe.Add("reason", fmt.Sprintf("Keep the reason under %d characters.", MaxReasonLength))
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	env := string(ns.Environment)
	if d := who.Principal.Check(authz.VMCreate, authz.Create, svc.SystemID, env); d != authz.Allow {
		return nil, domain.Errf(domain.CodeForbidden, "service_id", "You cannot request VMs in %s/%s (members, admins and owners of the System can).",
			svc.Edges.System.Name, svc.Name)
	}
	if parts, ok := domain.CheckVMNameParts(ns.Name, svc.Edges.System.Name, svc.Name); !ok {
		e := domain.Errf(domain.CodeVMNameTooLong, "", "The VM name would be too long: each of namespace, system and service may have at most %d characters.", domain.NameMaxLength)
		e.Params = map[string]any{"components": parts}
		return nil, e
	}
	return &checkedRequest{svc: svc, ns: ns, tpl: tpl, size: size, env: env, reason: reason, diskGB: in.DiskGB}, nil
}

// lockAndCheckDuplicate serialises requests per service, so the duplicate check cannot
// race, and refuses a request when the same one already waits for approval.
func (r *checkedRequest) lockAndCheckDuplicate(ctx context.Context, tx *db.Tx, who Requester) error {
	if _, err := tx.Ent.Service.Query().Where(service.ID(r.svc.ID)).ForUpdate().Only(ctx); err != nil {
		return err
	}
	dup, err := tx.Ent.ApprovalTicket.Query().Where(
		approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL), approvalticket.TypeEQ(approvalticket.TypeVM_CREATE),
		approvalticket.RequesterID(who.User.ID), approvalticket.ServiceID(r.svc.ID), approvalticket.NamespaceID(r.ns.ID),
		approvalticket.TemplateID(r.tpl.ID), approvalticket.InstanceSizeID(r.size.ID),
	).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if dup != nil {
		return &DuplicateError{TicketID: dup.ID}
	}
	return nil
}

// write adds one request inside the caller's transaction: the immutable event (PENDING),
// the ticket (PENDING_APPROVAL, a child of batchID when set) and its audit row.
func (r *checkedRequest) write(ctx context.Context, tx *db.Tx, who Requester, batchID *uuid.UUID) (*ent.ApprovalTicket, error) {
	svc, ns, tpl, size := r.svc, r.ns, r.tpl, r.size
	payload := map[string]any{
		"service_id": svc.ID.String(), "service": svc.Name, "system_id": svc.SystemID.String(), "system": svc.Edges.System.Name,
		"namespace_id": ns.ID.String(), "namespace": ns.Name, "environment": r.env,
		"template_id": tpl.ID.String(), "template": tpl.Name, "template_version": tpl.Version,
		"instance_size_id": size.ID.String(), "instance_size": size.Name, "disk_gb": r.diskGB,
		"reason": r.reason, "requested_by": who.User.Username,
	}
	if batchID != nil {
		payload["batch_id"] = batchID.String()
	}
	ev, err := tx.Ent.DomainEvent.Create().SetEventType(domain.EventVMCreateRequested).SetAggregateType("vm").
		SetPayload(payload).SetRequestedBy(who.User.ID).SetStatus(domainevent.StatusPENDING).Save(ctx)
	if err != nil {
		return nil, err
	}
	ticket, err := tx.Ent.ApprovalTicket.Create().SetType(approvalticket.TypeVM_CREATE).SetEventID(ev.ID).
		SetRequesterID(who.User.ID).SetRequesterName(who.User.Username).SetReason(r.reason).
		SetSystemID(svc.SystemID).SetServiceID(svc.ID).SetNamespaceID(ns.ID).SetNamespaceName(ns.Name).
		SetEnvironment(approvalticket.Environment(r.env)).SetTargetName(r.target()).
		SetInstanceSizeID(size.ID).SetTemplateID(tpl.ID).SetRequestParams(map[string]any{"disk_gb": r.diskGB}).
		SetNillableBatchID(batchID).Save(ctx)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"namespace": ns.Name, "template": tpl.Name, "template_version": tpl.Version,
		"instance_size": size.Name, "disk_gb": r.diskGB, "event_id": ev.ID.String()}
	if batchID != nil {
		details["batch_id"] = batchID.String()
	}
	err = audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.request", ActorID: &who.User.ID, ActorName: who.User.Username,
		ResourceType: "ticket", ResourceID: ticket.ID.String(), ResourceName: r.target(),
		ParentType: "service", ParentID: svc.ID.String(), Environment: r.env, Details: details})
	return ticket, err
}

func without(ids []uuid.UUID, drop uuid.UUID) []uuid.UUID {
	out := ids[:0:0]
	for _, id := range ids {
		if id != drop {
			out = append(out, id)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
