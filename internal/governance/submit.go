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

	var ticket *ent.ApprovalTicket
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// Serialise requests per service so the duplicate check cannot race.
		if _, err := tx.Ent.Service.Query().Where(service.ID(svc.ID)).ForUpdate().Only(ctx); err != nil {
			return err
		}
		dup, err := tx.Ent.ApprovalTicket.Query().Where(
			approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL), approvalticket.TypeEQ(approvalticket.TypeVM_CREATE),
			approvalticket.RequesterID(who.User.ID), approvalticket.ServiceID(svc.ID), approvalticket.NamespaceID(ns.ID),
			approvalticket.TemplateID(tpl.ID), approvalticket.InstanceSizeID(size.ID),
		).First(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		if dup != nil {
			return &DuplicateError{TicketID: dup.ID}
		}
		payload := map[string]any{
			"service_id": svc.ID.String(), "service": svc.Name, "system_id": svc.SystemID.String(), "system": svc.Edges.System.Name,
			"namespace_id": ns.ID.String(), "namespace": ns.Name, "environment": env,
			"template_id": tpl.ID.String(), "template": tpl.Name, "template_version": tpl.Version,
			"instance_size_id": size.ID.String(), "instance_size": size.Name, "disk_gb": in.DiskGB,
			"reason": reason, "requested_by": who.User.Username,
		}
		ev, err := tx.Ent.DomainEvent.Create().SetEventType(domain.EventVMCreateRequested).SetAggregateType("vm").
			SetPayload(payload).SetRequestedBy(who.User.ID).SetStatus(domainevent.StatusPENDING).Save(ctx)
		if err != nil {
			return err
		}
		ticket, err = tx.Ent.ApprovalTicket.Create().SetType(approvalticket.TypeVM_CREATE).SetEventID(ev.ID).
			SetRequesterID(who.User.ID).SetRequesterName(who.User.Username).SetReason(reason).
			SetSystemID(svc.SystemID).SetServiceID(svc.ID).SetNamespaceID(ns.ID).SetNamespaceName(ns.Name).
			SetEnvironment(approvalticket.Environment(env)).SetTargetName(svc.Edges.System.Name + "/" + svc.Name).
			SetInstanceSizeID(size.ID).SetTemplateID(tpl.ID).SetRequestParams(map[string]any{"disk_gb": in.DiskGB}).Save(ctx)
		if err != nil {
			return err
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.request", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "ticket", ResourceID: ticket.ID.String(), ResourceName: svc.Edges.System.Name + "/" + svc.Name,
			ParentType: "service", ParentID: svc.ID.String(), Environment: env,
			Details: map[string]any{"namespace": ns.Name, "template": tpl.Name, "template_version": tpl.Version,
				"instance_size": size.Name, "disk_gb": in.DiskGB, "event_id": ev.ID.String()}}); err != nil {
			return err
		}
		auto, err := s.autoApprove(ctx, tx, who, ticket, policy.Request{
			Environment:  env,
			NamespaceID:  ns.ID,
			SystemID:     svc.SystemID,
			ServiceID:    svc.ID,
			Size:         size,
			TemplateName: tpl.Name,
			Roles:        policy.RolesIn(who.Principal, env),
			DiskGB:       in.DiskGB,
		})
		if err != nil || auto != nil {
			ticket = auto
			return err
		}
		approvers, err := notify.HoldersOf(ctx, tx.Ent, authz.ApprovalApprove, env)
		if err != nil {
			return err
		}
		approvers = without(approvers, who.User.ID)
		return notify.Send(ctx, tx.Ent, approvers, notify.Message{Type: notification.TypeAPPROVAL_REQUIRED,
			Title: fmt.Sprintf("VM request for %s/%s in %s", svc.Edges.System.Name, svc.Name, ns.Name),
			Body:  fmt.Sprintf("%s asks for a %s VM (%s, %d GB disk): %s", who.User.Username, size.Name, tpl.Name, in.DiskGB, truncate(reason, 200)),
			Link:  "/approvals/" + ticket.ID.String(), TicketID: &ticket.ID})
	})
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
