package governance

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/ticketbatch"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/notify"
)

// MaxBatchCreate is the most VMs one batch request may ask for (flows §2.21).
const MaxBatchCreate = 10

// Batch statuses, computed from the children (domain §2.4); never stored.
const (
	BatchPendingApproval = "PENDING_APPROVAL"
	BatchInProgress      = "IN_PROGRESS"
	BatchCompleted       = "COMPLETED"
	BatchFailed          = "FAILED"
	BatchPartialSuccess  = "PARTIAL_SUCCESS"
)

// SubmitBatch submits count identical VM create requests as one batch, and owns the one
// transaction that writes them: the parent row, then per child the event, ticket and
// audit row exactly as Submit writes them, the batch's audit row and one approval
// notification for the whole batch. Any failure (validation, a duplicate, a later limit
// check) rolls all of it back, so a half-created batch is never visible. Checks that
// must see the batch's siblings (pending batch limits, cooldowns) belong inside its
// transaction, after the service lock.
//
// A batch is never auto-approved: auto-approval policies judge single requests (their
// daily limits count tickets one by one), and an approver deciding a batch places all of
// its VMs with one choice. count 1 is an ordinary request (Submit).
func (s *Service) SubmitBatch(ctx context.Context, who Requester, in RequestInput, count int) (*ent.TicketBatch, error) {
	if count < 2 || count > MaxBatchCreate {
		return nil, &domain.ValidationError{Fields: domain.FieldErrors{"count": fmt.Sprintf("Ask for between 1 and %d VMs.", MaxBatchCreate)}}
	}
	r, err := s.checkRequest(ctx, who, in)
	if err != nil {
		return nil, err
	}
	var batch *ent.TicketBatch
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := r.lockAndCheckDuplicate(ctx, tx, who); err != nil {
			return err
		}
		batch, err = tx.Ent.TicketBatch.Create().
			SetType(ticketbatch.TypeVM_CREATE).
			SetRequesterID(who.User.ID).
			SetRequesterName(who.User.Username).
			SetReason(r.reason).
			SetSystemID(r.svc.SystemID).
			SetServiceID(r.svc.ID).
			SetNamespaceID(r.ns.ID).
			SetNamespaceName(r.ns.Name).
			SetEnvironment(ticketbatch.Environment(r.env)).
			SetTargetName(r.target()).
			SetInstanceSizeID(r.size.ID).
			SetTemplateID(r.tpl.ID).
			SetRequestParams(map[string]any{"disk_gb": r.diskGB}).
			SetChildCount(count).
			Save(ctx)
		if err != nil {
			return err
		}
		for i := range count {
			if s.beforeBatchChild != nil {
				if err := s.beforeBatchChild(i); err != nil {
					return err
				}
			}
			if _, err := r.write(ctx, tx, who, &batch.ID); err != nil {
				return err
			}
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{Action: "vm.batch_request", ActorID: &who.User.ID, ActorName: who.User.Username,
			ResourceType: "batch", ResourceID: batch.ID.String(), ResourceName: r.target(),
			ParentType: "service", ParentID: r.svc.ID.String(), Environment: r.env,
			Details: map[string]any{"count": count, "namespace": r.ns.Name, "template": r.tpl.Name,
				"template_version": r.tpl.Version, "instance_size": r.size.Name, "disk_gb": r.diskGB}}); err != nil {
			return err
		}
		approvers, err := notify.HoldersOf(ctx, tx.Ent, authz.ApprovalApprove, r.env)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, without(approvers, who.User.ID), notify.Message{Type: notification.TypeAPPROVAL_REQUIRED,
			Title: fmt.Sprintf("%d VMs requested for %s in %s", count, r.target(), r.ns.Name),
			Body: fmt.Sprintf("%s asks for %d %s VMs (%s, %d GB disk each): %s", who.User.Username, count, r.size.Name,
				r.tpl.Name, r.diskGB, truncate(r.reason, 200)),
			Link: "/approvals/batches/" + batch.ID.String()})
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

// BatchCounts are a batch's children by where they are.
type BatchCounts struct {
	Pending   int // waiting for a decision
	InFlight  int // approved or executing
	Succeeded int
	Failed    int // execution failed: these can be retried
	Rejected  int // rejected or cancelled: never ran
}

// Total is the number of children counted.
func (c BatchCounts) Total() int { return c.Pending + c.InFlight + c.Succeeded + c.Failed + c.Rejected }

// BatchStatus computes the parent's status from its children (domain §2.4):
// PENDING_APPROVAL before any decision; IN_PROGRESS while any child waits or runs;
// then COMPLETED when none failed, FAILED when none succeeded, else PARTIAL_SUCCESS.
// A rejected or cancelled child counts as not succeeded (as a failure for this rule,
// though it is not retried): a batch of which one VM was refused did not fully
// complete, and a batch refused entirely delivered nothing.
func BatchStatus(c BatchCounts) string {
	switch {
	case c.Total() == 0 || c.Pending == c.Total():
		return BatchPendingApproval
	case c.Pending+c.InFlight > 0:
		return BatchInProgress
	case c.Failed+c.Rejected == 0:
		return BatchCompleted
	case c.Succeeded == 0:
		return BatchFailed
	default:
		return BatchPartialSuccess
	}
}

// countsOf folds ticket statuses into batch counts.
func (c *BatchCounts) add(st approvalticket.Status, n int) {
	switch st {
	case approvalticket.StatusPENDING_APPROVAL:
		c.Pending += n
	case approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING:
		c.InFlight += n
	case approvalticket.StatusSUCCESS:
		c.Succeeded += n
	case approvalticket.StatusFAILED:
		c.Failed += n
	default:
		c.Rejected += n
	}
}

// BatchCountsOf counts the children of the given batches by status, in one query.
func BatchCountsOf(ctx context.Context, client *ent.Client, ids ...uuid.UUID) (map[uuid.UUID]BatchCounts, error) {
	out := map[uuid.UUID]BatchCounts{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		BatchID uuid.UUID             `json:"batch_id"`
		Status  approvalticket.Status `json:"status"`
		Count   int                   `json:"count"`
	}
	err := client.ApprovalTicket.Query().Where(approvalticket.BatchIDIn(ids...)).
		GroupBy(approvalticket.FieldBatchID, approvalticket.FieldStatus).Aggregate(ent.Count()).Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		c := out[r.BatchID]
		c.add(r.Status, r.Count)
		out[r.BatchID] = c
	}
	return out, nil
}

// ErrBatchNotFound is answered for batches the user may not see (404, never 403).
var ErrBatchNotFound = domain.Errf(domain.CodeNotFound, "", "There is no such batch request.")

// BatchView is a batch with its children, oldest first, and its computed status.
type BatchView struct {
	Batch    *ent.TicketBatch
	Children []*ent.ApprovalTicket
	VMs      map[uuid.UUID]*ent.VM // by ticket id
	Counts   BatchCounts
	Status   string
}

// BatchFor returns a batch the user may see — the rule of its children's request pages
// (TicketFor): the requester, approvers of its environment, and members of its System
// who may read VMs there.
func (s *Service) BatchFor(ctx context.Context, who Requester, id uuid.UUID) (*BatchView, error) {
	b, err := s.Store.Ent.TicketBatch.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, ErrBatchNotFound
	}
	if err != nil {
		return nil, err
	}
	env := string(b.Environment)
	if b.RequesterID != who.User.ID && !who.Principal.HasIn(authz.ApprovalView, env) &&
		who.Principal.Check(authz.VMRead, authz.View, b.SystemID, env) != authz.Allow {
		return nil, ErrBatchNotFound
	}
	return s.batchView(ctx, s.Store.Ent, b)
}

func (s *Service) batchView(ctx context.Context, client *ent.Client, b *ent.TicketBatch) (*BatchView, error) {
	children, err := client.ApprovalTicket.Query().Where(approvalticket.BatchID(b.ID)).
		Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	v := &BatchView{Batch: b, Children: children, VMs: map[uuid.UUID]*ent.VM{}}
	var vmIDs []uuid.UUID
	for _, c := range children {
		v.Counts.add(c.Status, 1)
		if c.VMID != nil {
			vmIDs = append(vmIDs, *c.VMID)
		}
	}
	if len(vmIDs) > 0 {
		vms, err := client.VM.Query().Where(vm.IDIn(vmIDs...)).All(ctx)
		if err != nil {
			return nil, err
		}
		byID := map[uuid.UUID]*ent.VM{}
		for _, x := range vms {
			byID[x.ID] = x
		}
		for _, c := range children {
			if c.VMID != nil && byID[*c.VMID] != nil {
				v.VMs[c.ID] = byID[*c.VMID]
			}
		}
	}
	v.Status = BatchStatus(v.Counts)
	return v, nil
}

// CanDecideBatch reports whether the user could approve the batch's children.
func CanDecideBatch(who Requester, b *ent.TicketBatch) bool {
	return who.Principal.HasIn(authz.ApprovalApprove, string(b.Environment)) && b.RequesterID != who.User.ID
}

// CanRetryBatch reports whether the user may retry the batch's failed children: its
// requester, or someone who could approve them.
func CanRetryBatch(who Requester, b *ent.TicketBatch) bool {
	return b.RequesterID == who.User.ID || who.Principal.HasIn(authz.ApprovalApprove, string(b.Environment))
}

// BatchSummary is what a list row says of a batch.
type BatchSummary struct {
	ChildCount int
	Counts     BatchCounts
	Status     string
}

// BatchSummaries describes the batches of the listed tickets (the inbox and My requests
// show a batch as one row), in two queries whatever the page size.
func (s *Service) BatchSummaries(ctx context.Context, rows []*ent.ApprovalTicket) (map[uuid.UUID]BatchSummary, error) {
	var ids []uuid.UUID
	for _, t := range rows {
		if t.BatchID != nil {
			ids = append(ids, *t.BatchID)
		}
	}
	out := map[uuid.UUID]BatchSummary{}
	if len(ids) == 0 {
		return out, nil
	}
	bs, err := s.Store.Ent.TicketBatch.Query().Where(ticketbatch.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := BatchCountsOf(ctx, s.Store.Ent, ids...)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		c := counts[b.ID]
		out[b.ID] = BatchSummary{ChildCount: b.ChildCount, Counts: c, Status: BatchStatus(c)}
	}
	return out, nil
}
