package governance

import (
	"context"
	"sort"

	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/predicate"
)

// VMTickets is what the VM page shows of a VM's tickets.
type VMTickets struct {
	Creation *ent.ApprovalTicket   // the request that created the VM (final resources)
	Latest   *ent.ApprovalTicket   // the last decided operation, see VMOperations
	Pending  []*ent.ApprovalTicket // operations waiting for a decision, oldest first
	Recent   []*ent.ApprovalTicket // the VM's requests, newest first, at most recent
}

// TicketsOfVM reads in one statement what VMOperations, the creation ticket and the
// VM's request list would read in four: the union of their ids, then the rows. The
// classification below repeats each query's order over that small set.
func (s *Service) TicketsOfVM(ctx context.Context, v *ent.VM, recent int) (VMTickets, error) {
	ids := predicate.ApprovalTicket(func(sel *entsql.Selector) {
		sel.Where(entsql.P(func(b *entsql.Builder) {
			b.WriteString(sel.C(approvalticket.FieldID) + " IN (SELECT id FROM approval_tickets WHERE id = ").Arg(v.TicketID).
				WriteString(" UNION ALL (SELECT id FROM approval_tickets WHERE vm_id = ").Arg(v.ID).
				WriteString(" AND type <> 'VNC_ACCESS' AND status IN ('APPROVED', 'EXECUTING', 'SUCCESS', 'FAILED')" +
					" ORDER BY decided_at DESC, created_at DESC LIMIT 1)" +
					" UNION ALL SELECT id FROM approval_tickets WHERE vm_id = ").Arg(v.ID).
				WriteString(" AND type <> 'VNC_ACCESS' AND status = 'PENDING_APPROVAL'" +
					" UNION ALL (SELECT id FROM approval_tickets WHERE id = ").Arg(v.TicketID).
				WriteString(" OR vm_id = ").Arg(v.ID).
				WriteString(" ORDER BY created_at DESC LIMIT ").Arg(recent).WriteString("))")
		}))
	})
	rows, err := s.Store.Ent.ApprovalTicket.Query().Where(ids).Order(ent.Desc(approvalticket.FieldCreatedAt)).All(ctx)
	if err != nil {
		return VMTickets{}, err
	}
	var out VMTickets
	for _, t := range rows {
		ofVM := t.VMID != nil && *t.VMID == v.ID
		if t.ID == v.TicketID {
			out.Creation = t
		}
		if len(out.Recent) < recent && (t.ID == v.TicketID || ofVM) {
			out.Recent = append(out.Recent, t)
		}
		if !ofVM || t.Type == approvalticket.TypeVNC_ACCESS {
			continue
		}
		switch t.Status {
		case approvalticket.StatusPENDING_APPROVAL:
			out.Pending = append(out.Pending, t)
		case approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING, approvalticket.StatusSUCCESS, approvalticket.StatusFAILED:
			if out.Latest == nil || decidedLater(t, out.Latest) {
				out.Latest = t
			}
		}
	}
	sort.SliceStable(out.Pending, func(i, j int) bool { return out.Pending[i].CreatedAt.Before(out.Pending[j].CreatedAt) })
	return out, nil
}

// decidedLater orders like ORDER BY decided_at DESC, created_at DESC in PostgreSQL,
// where NULL sorts first in descending order.
func decidedLater(a, b *ent.ApprovalTicket) bool {
	switch {
	case a.DecidedAt == nil && b.DecidedAt != nil:
		return true
	case a.DecidedAt != nil && b.DecidedAt == nil:
		return false
	case a.DecidedAt != nil && !a.DecidedAt.Equal(*b.DecidedAt):
		return a.DecidedAt.After(*b.DecidedAt)
	}
	return a.CreatedAt.After(b.CreatedAt)
}
