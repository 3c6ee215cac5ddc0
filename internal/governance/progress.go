package governance

import (
	"context"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/predicate"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Progress step states as the portal draws them.
const (
	ProgressDone    = "done"
	ProgressRunning = "running"
	ProgressFailed  = "failed"
	ProgressPending = "pending"
)

// ProgressStep is one line of an operation's timeline.
type ProgressStep struct {
	Name, Label, State string
	At                 time.Time // zero when the step has not happened
	Message            string
}

// Progress merges the planned steps of the ticket's type with what the worker recorded,
// so the timeline shows the whole path: done steps with their times, the running one,
// a failed one with its message, and the steps still to come.
func Progress(t *ent.ApprovalTicket) []ProgressStep {
	planned := domain.PlannedSteps(string(t.Type))
	recorded := map[string]int{}
	for i, s := range t.Steps {
		recorded[s.Name] = i
	}
	names := slices.Clone(planned)
	for _, s := range t.Steps {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	out := make([]ProgressStep, 0, len(names))
	failed := false
	for _, n := range names {
		p := ProgressStep{Name: n, Label: domain.StepLabel(n), State: ProgressPending}
		if i, ok := recorded[n]; ok {
			r := t.Steps[i]
			p.State, p.At, p.Message = r.State, r.At, r.Message
			failed = failed || r.State == domain.StepStateFailed
		}
		out = append(out, p)
	}
	switch t.Status {
	case approvalticket.StatusAPPROVED:
		// No worker has taken the job yet: it waits in the queue.
		if len(out) > 0 && out[0].State == ProgressPending {
			out[0].State = ProgressRunning
			if t.DecidedAt != nil {
				out[0].At = *t.DecidedAt
			}
		}
	case approvalticket.StatusFAILED:
		// A failure the worker did not pin on a step lands on the first unfinished one.
		if !failed {
			for i := range out {
				if out[i].State != ProgressDone {
					out[i].State, out[i].Message = ProgressFailed, t.ErrorMessage
					break
				}
			}
		}
	}
	return out
}

// InFlight reports whether a ticket's operation is queued or executing.
func InFlight(t *ent.ApprovalTicket) bool {
	return t != nil && (t.Status == approvalticket.StatusAPPROVED || t.Status == approvalticket.StatusEXECUTING)
}

// Transitional reports a VM state that changes by itself soon (the portal keeps polling).
func Transitional(s vm.Status) bool {
	switch s {
	case vm.StatusCREATING, vm.StatusSTARTING, vm.StatusSTOPPING, vm.StatusRESTARTING, vm.StatusDELETING:
		return true
	}
	return false
}

// VMOperations returns the VM's most recently decided operation that was carried out
// (or is being carried out), and its requests still waiting for approval. Both walk the
// (vm_id, decided_at) index; the VM page polls this every two seconds while work is in
// flight. Console access requests are a person's, not operations on the VM: they are
// left out.
func (s *Service) VMOperations(ctx context.Context, v *ent.VM) (*ent.ApprovalTicket, []*ent.ApprovalTicket, error) {
	client := s.Store.Ent
	vmID := v.ID
	notConsole := approvalticket.TypeNEQ(approvalticket.TypeVNC_ACCESS)
	latest, err := client.ApprovalTicket.Query().Where(approvalticket.VMID(vmID), notConsole, approvalticket.StatusIn(approvalticket.StatusAPPROVED,
		approvalticket.StatusEXECUTING, approvalticket.StatusSUCCESS, approvalticket.StatusFAILED)).
		Order(ent.Desc(approvalticket.FieldDecidedAt), ent.Desc(approvalticket.FieldCreatedAt)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, nil, err
	}
	pending, err := client.ApprovalTicket.Query().Where(approvalticket.VMID(vmID), notConsole, approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).
		Order(ent.Asc(approvalticket.FieldCreatedAt)).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	return latest, pending, nil
}

// InFlightVMs reports which of the VMs have an operation queued or executing (the
// in-flight partial index answers it), so lists can keep polling until workers finish.
func (s *Service) InFlightVMs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.Store.Ent.ApprovalTicket.Query().Where(approvalticket.VMIDIn(ids...), inFlight).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range rows {
		out[*t.VMID] = true
	}
	return out, nil
}

// inFlight is written as a literal condition (not bind parameters) so that even cached
// generic plans can use the partial index approvalticket_one_inflight_per_vm.
var inFlight = predicate.ApprovalTicket(func(s *entsql.Selector) {
	s.Where(entsql.ExprP(s.C(approvalticket.FieldStatus) + " IN ('APPROVED', 'EXECUTING')"))
})
