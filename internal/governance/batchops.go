package governance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Batch limits (flows §2.21, domain §11.2).
const (
	MaxBatchPower   = 50
	MaxBatchDelete  = 10
	MaxBatchApprove = 20
)

// Outcomes of one item of a batch, for the result summary.
const (
	OutcomeQueued    = "queued"    // the operation runs now (test environment)
	OutcomeRequested = "requested" // sent for approval (prod, and every delete)
	OutcomeApproved  = "approved"
	OutcomeRejected  = "rejected"
	OutcomeUnchanged = "unchanged" // nothing to do: already in the state asked for
	OutcomeRefused   = "refused"   // not allowed (rights, state, a running operation)
	OutcomeChoice    = "choice"    // an approval needs the approver's choice: open it
	OutcomeFailed    = "failed"    // an unexpected error; try the item alone
)

// BatchItem is what happened to one VM or ticket of a batch.
type BatchItem struct {
	ID       uuid.UUID // the VM or the ticket
	Name     string    // VM name or the ticket's target; "" when the user may not see it
	Type     string    // ticket type (batch decisions)
	Outcome  string
	Message  string
	TicketID uuid.UUID // the ticket written or decided, if any
	VMID     uuid.UUID // the VM concerned, when known and visible
}

// Done reports whether the item did what the batch asked.
func (i BatchItem) Done() bool {
	switch i.Outcome {
	case OutcomeQueued, OutcomeRequested, OutcomeApproved, OutcomeRejected:
		return true
	}
	return false
}

// BatchResult is a batch that ran: its audit id, operation and every item in the order chosen.
type BatchResult struct {
	ID    uuid.UUID
	Op    string
	Items []BatchItem
}

// Count is how many items ended with outcome.
func (r BatchResult) Count(outcome string) int {
	n := 0
	for _, i := range r.Items {
		if i.Outcome == outcome {
			n++
		}
	}
	return n
}

// BatchRefusedError is a batch refused as a whole (nothing was done): the reason, and
// the items that caused it (may be empty when the batch itself is wrong, e.g. too large).
type BatchRefusedError struct {
	Message string
	Items   []BatchItem
}

func (e *BatchRefusedError) Error() string { return "batch refused: " + e.Message }

// uniqueIDs drops repeated ids, keeping the first occurrence's order.
func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if id != uuid.Nil && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// checkBatchSize refuses an empty batch or one over max.
func checkBatchSize(n, max int, noun, what string) error {
	switch {
	case n == 0:
		return &BatchRefusedError{Message: fmt.Sprintf("Tick at least one %s first.", noun)}
	case n > max:
		return &BatchRefusedError{Message: fmt.Sprintf("You selected %d %ss; %s takes at most %d at a time. Nothing was done: select fewer and try again.",
			n, noun, what, max)}
	}
	return nil
}

// visibleVMs loads the VMs among ids the user may see, by id.
func (s *Service) visibleVMs(ctx context.Context, who Requester, ids []uuid.UUID) (map[uuid.UUID]*ent.VM, error) {
	vms, err := s.Store.Ent.VM.Query().Where(vm.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]*ent.VM{}
	for _, v := range vms {
		if who.Principal.Check(authz.VMRead, authz.View, v.SystemID, string(v.Environment)) == authz.Allow {
			out[v.ID] = v
		}
	}
	return out, nil
}

// BatchPower starts, stops or restarts up to MaxBatchPower VMs, best effort: each VM goes
// through RequestPower on its own (its rights, state, environment policy and its own
// transaction), so one refusal does not stop the others. reason is used for the VMs whose
// operation needs an approval (prod). One audit row records the batch besides each VM's.
func (s *Service) BatchPower(ctx context.Context, who Requester, ids []uuid.UUID, op, reason string) (*BatchResult, error) {
	o, ok := PowerOp(op)
	if !ok {
		return nil, &BatchRefusedError{Message: "Choose start, stop or restart."}
	}
	ids = uniqueIDs(ids)
	if err := checkBatchSize(len(ids), MaxBatchPower, "VM", strings.ToUpper(op[:1])+op[1:]); err != nil {
		return nil, err
	}
	seen, err := s.visibleVMs(ctx, who, ids)
	if err != nil {
		return nil, err
	}
	res := &BatchResult{ID: uuid.New(), Op: op}
	for _, id := range ids {
		item := BatchItem{ID: id}
		if v := seen[id]; v != nil {
			item.Name, item.VMID = v.Name, v.ID
		}
		t, err := s.RequestPower(ctx, who, id, op, reason)
		switch {
		case err == nil && t.Status == approvalticket.StatusAPPROVED:
			item.Outcome, item.TicketID, item.Message = OutcomeQueued, t.ID, strings.ToUpper(op[:1])+op[1:]+" queued."
		case err == nil:
			item.Outcome, item.TicketID, item.Message = OutcomeRequested, t.ID, "Sent for approval."
		default:
			item.Outcome, item.Message = s.powerRefusal(ctx, o, seen[id], reason, err)
			if item.Outcome == OutcomeFailed {
				s.logBatchError(ctx, "batch "+op, id, err)
			}
		}
		res.Items = append(res.Items, item)
	}
	return res, s.auditBatch(ctx, s.Store.Ent, who, "vm.batch_"+op, res, reason)
}

// powerRefusal words why one VM of a power batch was not operated.
func (s *Service) powerRefusal(ctx context.Context, o Operation, v *ent.VM, reason string, err error) (string, string) {
	var de *domain.Error
	var ve *domain.ValidationError
	switch {
	case errors.Is(err, ErrVMNotFound):
		return OutcomeRefused, "There is no such VM, or you may not see it."
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		return OutcomeRefused, "You may not operate this VM."
	case errors.As(err, &de) && de.Code == domain.CodeVMStateConflict:
		// Reload: the state may have changed since the page was shown.
		if v == nil {
			return OutcomeRefused, de.Message
		}
		if now, lerr := s.Store.Ent.VM.Get(ctx, v.ID); lerr == nil {
			v = now
		}
		if already(o, v.Status) {
			return OutcomeUnchanged, "Already " + strings.ToLower(string(v.Status)) + "."
		}
		return OutcomeRefused, de.Message
	case errors.As(err, &de):
		return OutcomeRefused, de.Message
	case errors.As(err, &ve):
		// The reason is checked before the state: a VM already where it should be needs none.
		if v != nil && already(o, v.Status) {
			return OutcomeUnchanged, "Already " + strings.ToLower(string(v.Status)) + "."
		}
		if _, ok := ve.Fields["reason"]; ok && strings.TrimSpace(reason) == "" {
			return OutcomeRefused, "Not requested: production VMs need an approver, so give a reason."
		}
		return OutcomeRefused, strings.Join(slices.Sorted(maps.Values(ve.Fields)), " ")
	}
	return OutcomeFailed, "Something went wrong; nothing was done to this VM. Try it alone from its page."
}

// already reports whether the VM is in the state the operation leads to.
func already(o Operation, s vm.Status) bool {
	switch o.Op {
	case "start":
		return s == vm.StatusRUNNING || s == vm.StatusSTARTING
	case "stop":
		return s == vm.StatusSTOPPED || s == vm.StatusSTOPPING
	}
	return false
}

// BatchDeleteInput is a confirmed batch deletion: every VM's confirmation, as for a single
// delete (a ticked box for test VMs, the exact name typed for each prod VM).
type BatchDeleteInput struct {
	VMIDs   []uuid.UUID
	Reason  string
	Confirm bool                 // test VMs
	Names   map[uuid.UUID]string // prod VMs: the name typed for each
}

// CheckBatchDelete validates a delete selection before its confirmation page: at most
// MaxBatchDelete VMs, all of one environment, each deletable by this user in its state.
// It returns the VMs in the order chosen; any problem refuses the whole batch with the
// items concerned (deletion batches are all or nothing).
func (s *Service) CheckBatchDelete(ctx context.Context, who Requester, ids []uuid.UUID) ([]*ent.VM, error) {
	ids = uniqueIDs(ids)
	if err := checkBatchSize(len(ids), MaxBatchDelete, "VM", "Delete"); err != nil {
		return nil, err
	}
	seen, err := s.visibleVMs(ctx, who, ids)
	if err != nil {
		return nil, err
	}
	var vms []*ent.VM
	var problems []BatchItem
	for _, id := range ids {
		v, err := s.operableVM(ctx, who, id, authz.VMDelete, authz.Delete, "delete")
		var de *domain.Error
		switch {
		case errors.Is(err, ErrVMNotFound):
			problems = append(problems, BatchItem{ID: id, Outcome: OutcomeRefused, Message: "There is no such VM, or you may not see it."})
			continue
		case errors.As(err, &de) && de.Code == domain.CodeForbidden:
			problems = append(problems, BatchItem{ID: id, Name: seen[id].Name, VMID: id, Outcome: OutcomeRefused, Message: "You may not delete this VM."})
			continue
		case err != nil:
			return nil, err
		}
		if !OpDelete.Allows(v) {
			problems = append(problems, BatchItem{ID: id, Name: v.Name, VMID: id, Outcome: OutcomeRefused, Message: OpDelete.stateConflict(v).(*domain.Error).Message})
		}
		vms = append(vms, v)
	}
	if len(problems) > 0 {
		return nil, &BatchRefusedError{Message: "Nothing was deleted: the VMs below cannot be. Untick them and try again.", Items: problems}
	}
	envs := map[vm.Environment]bool{}
	for _, v := range vms {
		envs[v.Environment] = true
	}
	if len(envs) > 1 {
		return nil, &BatchRefusedError{Message: "Delete test and production VMs in separate batches: production deletions need each name typed. Nothing was deleted."}
	}
	return vms, nil
}

// BatchDelete asks for the deletion of up to MaxBatchDelete VMs of one environment, all or
// nothing: after the same checks as CheckBatchDelete and every confirmation, one
// transaction writes each VM's delete ticket (the single delete's write set, each waiting
// for an approver), and one audit row for the batch. A VM whose state changed since it
// was selected, or with another request running, refuses the whole batch and names it.
func (s *Service) BatchDelete(ctx context.Context, who Requester, in BatchDeleteInput) (*BatchResult, error) {
	vms, err := s.CheckBatchDelete(ctx, who, in.VMIDs)
	if err != nil {
		return nil, err
	}
	fields := domain.FieldErrors{}
	for _, v := range vms {
		if v.Environment == vm.EnvironmentProd {
			if e := domain.ConfirmTypedName("VM", v.Name, strings.TrimSpace(in.Names[v.ID])); e != nil {
				fields["confirm_name_"+v.ID.String()] = e.Message
			}
		} else if !in.Confirm {
			fields["confirm"] = "Tick the box to confirm that these VMs and their disks will be deleted."
		}
	}
	reason := strings.TrimSpace(in.Reason)
	if err := checkReason(reason, true, "Say why the VMs can go; an approver decides on each."); err != nil {
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			maps.Copy(fields, ve.Fields)
		}
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	res := &BatchResult{ID: uuid.New(), Op: "delete"}
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for _, v := range vms {
			t, err := s.requestOperationTx(ctx, tx, who, v.ID, OpDelete, reason, false)
			if err != nil {
				var de *domain.Error
				if errors.As(err, &de) {
					return &BatchRefusedError{Message: "Nothing was deleted: a VM changed since you selected it.",
						Items: []BatchItem{{ID: v.ID, Name: v.Name, VMID: v.ID, Outcome: OutcomeRefused, Message: de.Message}}}
				}
				return err
			}
			res.Items = append(res.Items, BatchItem{ID: v.ID, Name: v.Name, VMID: v.ID, TicketID: t.ID, Outcome: OutcomeRequested,
				Message: "Deletion sent for approval."})
		}
		return s.auditBatch(ctx, tx.Ent, who, "vm.batch_delete", res, reason)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// BatchDecide approves or rejects up to MaxBatchApprove tickets, each on its own (its own
// rights check and transaction, so one failure does not block the rest). Approvals take
// the defaults the approval page pre-selects; a VM request whose defaults are not safe
// (no eligible cluster or storage class, a deprecated template, a warning the approver
// must weigh) is left pending as "needs your choice". A rejection gives every ticket the
// same reason.
func (s *Service) BatchDecide(ctx context.Context, who Requester, ids []uuid.UUID, approve bool, reason string) (*BatchResult, error) {
	ids = uniqueIDs(ids)
	what := "Approve selected"
	op := "approve"
	if !approve {
		what, op = "Reject selected", "reject"
	}
	if err := checkBatchSize(len(ids), MaxBatchApprove, "request", what); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if !approve {
		if reason == "" {
			return nil, &domain.ValidationError{Fields: domain.FieldErrors{"reason": "Give the reason the requesters will read (for example: duplicate requests, wrong namespace)."}}
		}
		if len(reason) > MaxReasonLength {
			return nil, &domain.ValidationError{Fields: domain.FieldErrors{"reason": fmt.Sprintf("Keep it under %d characters.", MaxReasonLength)}}
		}
	}
	res := &BatchResult{ID: uuid.New(), Op: op}
	for _, id := range ids {
		item := s.decideOne(ctx, who, id, approve, reason)
		res.Items = append(res.Items, item)
	}
	return res, s.auditBatch(ctx, s.Store.Ent, who, "approval.batch_"+op, res, reason)
}

func (s *Service) decideOne(ctx context.Context, who Requester, id uuid.UUID, approve bool, reason string) BatchItem {
	item := BatchItem{ID: id}
	t, err := s.DecisionTicket(ctx, who, id)
	if err != nil {
		return s.decisionRefusal(ctx, item, err)
	}
	item.Name, item.Type, item.TicketID = t.TargetName, string(t.Type), t.ID
	if t.VMID != nil {
		item.VMID = *t.VMID
	}
	if err := s.checkDecider(ctx, who, t, map[bool]string{true: "approve", false: "reject"}[approve]); err != nil {
		return s.decisionRefusal(ctx, item, err)
	}
	if t.Status != approvalticket.StatusPENDING_APPROVAL {
		return s.decisionRefusal(ctx, item, alreadyDecided(t))
	}
	if !approve {
		if err := s.Reject(ctx, who, id, reason); err != nil {
			return s.decisionRefusal(ctx, item, err)
		}
		item.Outcome, item.Message = OutcomeRejected, "Rejected; the requester has been notified."
		return item
	}
	switch t.Type {
	case approvalticket.TypeVM_CREATE:
		plan, err := s.PlanApproval(ctx, t, ApproveInput{TicketID: t.ID})
		if err != nil {
			return s.decisionRefusal(ctx, item, err)
		}
		if why := needsChoice(plan); why != "" {
			item.Outcome, item.Message = OutcomeChoice, "Needs your choice — open it: "+why
			return item
		}
		v, err := s.Approve(ctx, who, ApproveInput{TicketID: t.ID})
		if err != nil {
			return s.decisionRefusal(ctx, item, err)
		}
		item.VMID = v.ID
		item.Outcome, item.Message = OutcomeApproved, fmt.Sprintf("Approved: %s is being created on %s.", v.Name, plan.Cluster.Name)
	case approvalticket.TypeVNC_ACCESS:
		if _, err := s.ApproveConsoleAccess(ctx, who, t.ID, 0, ""); err != nil {
			return s.decisionRefusal(ctx, item, err)
		}
		item.Outcome, item.Message = OutcomeApproved, "Console access granted for the requested time."
	default:
		if err := s.ApproveOperation(ctx, who, t.ID, ""); err != nil {
			return s.decisionRefusal(ctx, item, err)
		}
		item.Outcome, item.Message = OutcomeApproved, "Approved; it runs now."
	}
	return item
}

// needsChoice says why a VM request's defaults cannot be approved unseen ("" when they can).
func needsChoice(p *Plan) string {
	if p.Blocked() {
		keys := slices.Sorted(maps.Keys(p.Errors))
		return p.Errors[keys[0]]
	}
	if p.StorageClass == "" {
		return "the cluster has no default storage class; choose one."
	}
	if len(p.Warnings) > 0 {
		return p.Warnings[0]
	}
	return ""
}

// decisionRefusal words why one ticket of a decision batch was not decided.
func (s *Service) decisionRefusal(ctx context.Context, item BatchItem, err error) BatchItem {
	var de *domain.Error
	var ve *domain.ValidationError
	item.Outcome = OutcomeRefused
	switch {
	case errors.Is(err, ErrNotFound):
		item.Message = "There is no such request, or you may not see it."
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		item.Message = de.Message
	case errors.As(err, &de) && de.Code == domain.CodeSelfApproval:
		item.Message = "Your own request: another approver must decide it."
	case errors.As(err, &de) && de.Code == domain.CodeStaleTicket:
		item.Outcome, item.Message = OutcomeUnchanged, strings.Replace(de.Message, "This request was already", "Already", 1)
	case errors.As(err, &de) && de.Field != "":
		item.Outcome, item.Message = OutcomeChoice, "Needs your choice — open it: "+de.Message
	case errors.As(err, &de):
		item.Message = de.Message
	case errors.As(err, &ve):
		item.Outcome, item.Message = OutcomeChoice, "Needs your choice — open it: "+strings.Join(slices.Sorted(maps.Values(ve.Fields)), " ")
	default:
		item.Outcome, item.Message = OutcomeFailed, "Something went wrong; nothing was decided. Open the request and try again."
		s.logBatchError(ctx, "batch decision", item.ID, err)
	}
	return item
}

func (s *Service) logBatchError(ctx context.Context, what string, id uuid.UUID, err error) {
	if s.Logger != nil {
		s.Logger.ErrorContext(ctx, what+": item failed", "id", id, "err", err)
	}
}

// auditBatch writes the batch's own audit row (each item's is written by its use case):
// who, what, how many of each outcome and every item.
func (s *Service) auditBatch(ctx context.Context, client *ent.Client, who Requester, action string, res *BatchResult, reason string) error {
	counts := map[string]int{}
	items := make([]map[string]any, 0, len(res.Items))
	for _, i := range res.Items {
		counts[i.Outcome]++
		e := map[string]any{"id": i.ID.String(), "outcome": i.Outcome}
		if i.Name != "" {
			e["name"] = i.Name
		}
		if i.TicketID != uuid.Nil {
			e["ticket_id"] = i.TicketID.String()
		}
		items = append(items, e)
	}
	kind := "vm_batch"
	if strings.HasPrefix(action, "approval.") {
		kind = "ticket_batch"
	}
	details := map[string]any{"op": res.Op, "count": len(res.Items), "outcomes": counts, "items": items}
	if reason != "" {
		details["reason"] = reason
	}
	return audit.Write(ctx, client, audit.Entry{Action: action, ActorID: &who.User.ID, ActorName: who.User.Username,
		ResourceType: kind, ResourceID: res.ID.String(), ResourceName: batchName(res), Details: details})
}

func batchName(res *BatchResult) string {
	names := make([]string, 0, len(res.Items))
	for _, i := range res.Items {
		if i.Name != "" {
			names = append(names, i.Name)
		}
	}
	sort.Strings(names)
	n := fmt.Sprintf("%d items", len(res.Items))
	if len(names) > 0 {
		n += ": " + strings.Join(names, ", ")
	}
	if len(n) > 250 {
		n = n[:247] + "..."
	}
	return n
}
