package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs/vmpower"
	"kv-shepherd.io/shepherd/internal/notify"
)

// ErrVMNotFound is answered for VMs the user may not see (404, never 403).
var ErrVMNotFound = domain.Errf(domain.CodeNotFound, "", "There is no such VM.")

// AutoApprover is the approver name of test-environment operations, which need no person.
const AutoApprover = "auto-approved (test environment)"

// Unique indexes of approval_tickets that guard VM operations (ent/schema/governance.go).
const (
	pendingIndex  = "approvalticket_one_pending_per_vm_op"
	inflightIndex = "approvalticket_one_inflight_per_vm"
)

// Operation is one thing a person can ask Shepherd to do to an existing VM.
type Operation struct {
	Op     string // start, stop, restart, delete
	Ticket approvalticket.Type
	Event  string
	// From lists the VM states the operation may start from (flows §2.17). For delete
	// it is the complement: any state but CREATING, DELETING and DELETED.
	From []vm.Status
}

// Power operations and deletion, by their form value.
var (
	OpStart   = Operation{"start", approvalticket.TypeVM_START, domain.EventVMStartRequested, []vm.Status{vm.StatusSTOPPED, vm.StatusFAILED}}
	OpStop    = Operation{"stop", approvalticket.TypeVM_STOP, domain.EventVMStopRequested, []vm.Status{vm.StatusRUNNING, vm.StatusSTARTING}}
	OpRestart = Operation{"restart", approvalticket.TypeVM_RESTART, domain.EventVMRestartRequested, []vm.Status{vm.StatusRUNNING}}
	OpDelete  = Operation{"delete", approvalticket.TypeVM_DELETE, domain.EventVMDeleteRequested, []vm.Status{vm.StatusSTARTING, vm.StatusRUNNING,
		vm.StatusSTOPPING, vm.StatusSTOPPED, vm.StatusRESTARTING, vm.StatusFAILED, vm.StatusUNKNOWN}}
)

// PowerOps are the power operations in the order the VM page offers them.
var PowerOps = []Operation{OpStart, OpStop, OpRestart}

// PowerOp looks an operation up by its form value.
func PowerOp(op string) (Operation, bool) {
	for _, o := range PowerOps {
		if o.Op == op {
			return o, true
		}
	}
	return Operation{}, false
}

// operationOf maps a ticket type back to its operation (false for VM_CREATE and others).
func operationOf(t approvalticket.Type) (Operation, bool) {
	for _, o := range append(PowerOps, OpDelete) {
		if o.Ticket == t {
			return o, true
		}
	}
	return Operation{}, false
}

// Allows reports whether the operation may start from the VM's state. Power operations
// also need the VM to exist on its cluster: a create that failed before the apply left
// nothing to start, and a VM deleted behind Shepherd's back has nothing to stop.
func (o Operation) Allows(v *ent.VM) bool {
	if !slices.Contains(o.From, v.Status) {
		return false
	}
	return o.Op == "delete" || (v.K8sUID != "" && v.K8sExists)
}

// NeedsApproval reports whether a person must approve the operation in env: deletion
// always (DESIGN §3.6), power operations only in prod.
func (o Operation) NeedsApproval(env string) bool { return o.Op == "delete" || env != authz.EnvTest }

func (o Operation) stateConflict(v *ent.VM) error {
	if slices.Contains(o.From, v.Status) { // the state allows it, the cluster object is not there
		why := "it is missing there"
		if v.K8sUID == "" {
			why = "its creation failed before it was applied"
		}
		return domain.Errf(domain.CodeVMStateConflict, "", "%s cannot be %s: it does not exist on its cluster (%s). Delete it, and request a new VM if you still need one.",
			v.Name, pastParticiple(o.Op), why)
	}
	return domain.Errf(domain.CodeVMStateConflict, "", "%s cannot be %s while it is %s (allowed from %s).",
		v.Name, pastParticiple(o.Op), v.Status, joinStatuses(o.From))
}

func pastParticiple(op string) string {
	switch op {
	case "stop":
		return "stopped"
	case "delete":
		return "deleted"
	}
	return op + "ed"
}

func joinStatuses(ss []vm.Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// operableVM loads a VM and checks perm (with the role action) on it. VMs the user cannot
// read are not found; readable ones without the right are forbidden.
func (s *Service) operableVM(ctx context.Context, who Requester, id uuid.UUID, perm string, action authz.Action, what string) (*ent.VM, error) {
	v, err := s.Store.Ent.VM.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, ErrVMNotFound
	}
	if err != nil {
		return nil, err
	}
	env := string(v.Environment)
	if who.Principal.Check(authz.VMRead, authz.View, v.SystemID, env) != authz.Allow {
		return nil, ErrVMNotFound
	}
	if who.Principal.Check(perm, action, v.SystemID, env) != authz.Allow {
		return nil, domain.Errf(domain.CodeForbidden, "", "You may see %s but not %s it (%s in %s is needed).", v.Name, what, perm, env)
	}
	return v, nil
}

// RequestPower asks to start, stop or restart a VM. In test the operation is approved
// automatically: event (PROCESSING), ticket (APPROVED) and the vm_power job commit in one
// transaction. In prod it becomes a ticket awaiting approval, like a create request.
func (s *Service) RequestPower(ctx context.Context, who Requester, vmID uuid.UUID, op, reason string) (*ent.ApprovalTicket, error) {
	v, err := s.operableVM(ctx, who, vmID, authz.VMOperate, authz.Create, "operate")
	if err != nil {
		return nil, err
	}
	o, ok := PowerOp(op)
	if !ok {
		return nil, &domain.ValidationError{Fields: domain.FieldErrors{"op": "Choose start, stop or restart."}}
	}
	auto := !o.NeedsApproval(string(v.Environment))
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason, !auto, "Say why; an approver decides on it."); err != nil {
		return nil, err
	}
	if !o.Allows(v) {
		return nil, o.stateConflict(v)
	}
	return s.requestOperation(ctx, who, v, o, reason, auto)
}

// RequestDelete asks to delete a VM. Deletion always needs an approval; the requester
// confirms first: a checkbox in test, the VM's exact name in prod (flows §2.19).
func (s *Service) RequestDelete(ctx context.Context, who Requester, vmID uuid.UUID, reason string, confirm bool, confirmName string) (*ent.ApprovalTicket, error) {
	v, err := s.operableVM(ctx, who, vmID, authz.VMDelete, authz.Delete, "delete")
	if err != nil {
		return nil, err
	}
	if !OpDelete.Allows(v) {
		return nil, OpDelete.stateConflict(v)
	}
	if v.Environment == vm.EnvironmentProd {
		if e := domain.ConfirmTypedName("VM", v.Name, strings.TrimSpace(confirmName)); e != nil {
			return nil, e
		}
	} else if !confirm {
		return nil, domain.Errf(domain.CodeConfirmationRequired, "confirm", "Tick the box to confirm that %s and its disk will be deleted.", v.Name)
	}
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason, true, "Say why the VM can go; an approver decides on it."); err != nil {
		return nil, err
	}
	return s.requestOperation(ctx, who, v, OpDelete, reason, false)
}

func checkReason(reason string, required bool, missing string) error {
	switch {
	case required && reason == "":
		return &domain.ValidationError{Fields: domain.FieldErrors{"reason": missing}}
	case len(reason) > MaxReasonLength:
		return &domain.ValidationError{Fields: domain.FieldErrors{"reason": fmt.Sprintf("Keep the reason under %d characters.", MaxReasonLength)}}
	}
	return nil
}

// requestOperation writes event, ticket, audit and either the job (auto) or the
// approvers' notifications, in one transaction with the VM row locked, so the state
// and duplicate checks hold until commit.
func (s *Service) requestOperation(ctx context.Context, who Requester, v *ent.VM, o Operation, reason string, auto bool) (*ent.ApprovalTicket, error) {
	var ticket *ent.ApprovalTicket
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		ticket, err = s.requestOperationTx(ctx, tx, who, v.ID, o, reason, auto)
		return err
	})
	return ticket, err
}

// requestOperationTx is requestOperation's write set inside the caller's transaction
// (a batch delete writes every VM's in one).
func (s *Service) requestOperationTx(ctx context.Context, tx *db.Tx, who Requester, vmID uuid.UUID, o Operation, reason string, auto bool) (*ent.ApprovalTicket, error) {
	var ticket *ent.ApprovalTicket
	err := func() error {
		v, err := tx.Ent.VM.Query().Where(vm.ID(vmID)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		if !o.Allows(v) {
			return o.stateConflict(v)
		}
		if err := checkOpen(ctx, tx, v, o); err != nil {
			return err
		}
		env := string(v.Environment)
		payload := map[string]any{"op": o.Op, "vm_id": v.ID.String(), "vm_name": v.Name, "reason": reason,
			"requested_by": who.User.Username, "environment": env}
		evStatus, tkStatus := domainevent.StatusPENDING, approvalticket.StatusPENDING_APPROVAL
		if auto {
			evStatus, tkStatus = domainevent.StatusPROCESSING, approvalticket.StatusAPPROVED
		}
		ev, err := tx.Ent.DomainEvent.Create().SetEventType(o.Event).SetAggregateType("vm").SetAggregateID(v.ID.String()).
			SetPayload(payload).SetRequestedBy(who.User.ID).SetStatus(evStatus).Save(ctx)
		if err != nil {
			return err
		}
		create := tx.Ent.ApprovalTicket.Create().SetType(o.Ticket).SetStatus(tkStatus).SetEventID(ev.ID).
			SetRequesterID(who.User.ID).SetRequesterName(who.User.Username).SetReason(reason).
			SetSystemID(v.SystemID).SetServiceID(v.ServiceID).SetNamespaceID(v.NamespaceID).SetNamespaceName(v.NamespaceName).
			SetEnvironment(approvalticket.Environment(env)).SetTargetName(v.Name).SetVMID(v.ID).
			SetRequestParams(map[string]any{"op": o.Op})
		if auto {
			create = create.SetApproverName(AutoApprover).SetDecidedAt(s.now())
		}
		if ticket, err = create.Save(ctx); err != nil {
			return indexConflict(err, v, o)
		}
		if auto {
			if _, err := s.Jobs.InsertTx(ctx, tx.SQL, vmpower.Args{EventID: ev.ID}, nil); err != nil {
				return fmt.Errorf("enqueue %s: %w", o.Op, err)
			}
			if s.afterJobInsert != nil {
				if err := s.afterJobInsert(); err != nil {
					return err
				}
			}
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm." + o.Op + "_request", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "vm", ResourceID: v.ID.String(), ResourceName: v.Name, ParentType: "service", ParentID: v.ServiceID.String(),
			Environment: env, Details: map[string]any{"reason": reason, "auto_approved": auto, "ticket_id": ticket.ID.String(),
				"event_id": ev.ID.String(), "status": string(v.Status)}}); err != nil {
			return err
		}
		if auto {
			return nil
		}
		approvers, err := notify.HoldersOf(ctx, tx.Ent, authz.ApprovalApprove, env)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, without(approvers, who.User.ID), notify.Message{Type: notification.TypeAPPROVAL_REQUIRED,
			Title: fmt.Sprintf("%s request for %s", strings.ToUpper(o.Op[:1])+o.Op[1:], v.Name),
			Body:  fmt.Sprintf("%s asks to %s %s (%s, now %s): %s", who.User.Username, o.Op, v.Name, v.NamespaceName, v.Status, truncate(reason, 200)),
			Link:  "/approvals/" + ticket.ID.String(), TicketID: &ticket.ID})
	}()
	return ticket, err
}

// checkOpen refuses a second pending request of the same kind and any request while
// another operation runs; the unique indexes have the last word (indexConflict).
func checkOpen(ctx context.Context, tx *db.Tx, v *ent.VM, o Operation) error {
	open, err := tx.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(v.ID), approvalticket.StatusIn(
		approvalticket.StatusPENDING_APPROVAL, approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).All(ctx)
	if err != nil {
		return err
	}
	for _, t := range open {
		if t.Status != approvalticket.StatusPENDING_APPROVAL {
			return inProgress(v, t.Type)
		}
	}
	for _, t := range open {
		if t.Type == o.Ticket {
			return duplicate(v, o, t.ID)
		}
	}
	return nil
}

func inProgress(v *ent.VM, running approvalticket.Type) error {
	what := "Another operation"
	if running != "" {
		what = "An operation (" + requestNoun(running) + ")" // words, not the ticket type's code
	}
	return domain.Errf(domain.CodeOperationInProgress, "", "%s is still running on %s; wait until it finishes.", what, v.Name)
}

func duplicate(v *ent.VM, o Operation, pending uuid.UUID) error {
	e := domain.Errf(domain.CodeDuplicatePending, "", "A %s request for %s is already waiting for approval.", o.Op, v.Name)
	if pending != uuid.Nil {
		e.Params = map[string]any{"ticket_id": pending.String()}
	}
	return e
}

// indexConflict turns a unique violation of the operation indexes into the domain error
// a person understands (two requests raced past checkOpen).
func indexConflict(err error, v *ent.VM, o Operation) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "23505" {
		return err
	}
	switch pg.ConstraintName {
	case pendingIndex:
		return duplicate(v, o, uuid.Nil)
	case inflightIndex:
		return inProgress(v, "")
	}
	return err
}
