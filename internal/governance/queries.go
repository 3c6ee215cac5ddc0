package governance

import (
	"context"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/predicate"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/paging"
)

// InboxFilter narrows the approver inbox; all fields come from the query string.
type InboxFilter struct {
	Type        string // VM_CREATE, ...
	Environment string // test | prod
	Requester   string // username
	MinAgeDays  int
	Page        paging.Page // 20 rows by default, at most 100; past the end is the last page
}

// Inbox lists pending tickets in the environments where the user may view approvals,
// oldest first (the (status, created_at) index serves it).
func (s *Service) Inbox(ctx context.Context, p *authz.Principal, f InboxFilter) ([]*ent.ApprovalTicket, int, error) {
	envs := p.Environments(authz.ApprovalView)
	if f.Environment != "" {
		if !contains(envs, f.Environment) {
			return nil, 0, nil
		}
		envs = []string{f.Environment}
	}
	if len(envs) == 0 {
		return nil, 0, nil
	}
	where := []predicate.ApprovalTicket{approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)}
	var envPreds []approvalticket.Environment
	for _, e := range envs {
		envPreds = append(envPreds, approvalticket.Environment(e))
	}
	where = append(where, approvalticket.EnvironmentIn(envPreds...))
	if f.Type != "" {
		where = append(where, approvalticket.TypeEQ(approvalticket.Type(f.Type)))
	}
	if f.Requester != "" {
		where = append(where, approvalticket.RequesterName(f.Requester))
	}
	if f.MinAgeDays > 0 {
		where = append(where, approvalticket.CreatedAtLTE(s.now().Add(-time.Duration(f.MinAgeDays)*24*time.Hour)))
	}
	q := s.Store.Ent.ApprovalTicket.Query().Where(where...)
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	pg := f.Page.Standard().Within(total)
	rows, err := q.Order(ent.Asc(approvalticket.FieldCreatedAt)).Offset(pg.Offset()).Limit(pg.Limit()).All(ctx)
	return rows, total, err
}

// Waiting is what waits for an approver: the pending tickets he may decide (his
// environments, not his own requests), their number and the oldest one.
func Waiting(ctx context.Context, client *ent.Client, p *authz.Principal, userID uuid.UUID) (int, *ent.ApprovalTicket, error) {
	envs := p.Environments(authz.ApprovalApprove)
	if len(envs) == 0 {
		return 0, nil, nil
	}
	var envPreds []approvalticket.Environment
	for _, e := range envs {
		envPreds = append(envPreds, approvalticket.Environment(e))
	}
	q := client.ApprovalTicket.Query().Where(approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL),
		approvalticket.EnvironmentIn(envPreds...), approvalticket.RequesterIDNEQ(userID))
	n, err := q.Clone().Count(ctx)
	if err != nil || n == 0 {
		return n, nil, err
	}
	oldest, err := q.Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).First(ctx)
	return n, oldest, err
}

// NextWaiting is the oldest ticket waiting for this approver other than skip, or nil.
func NextWaiting(ctx context.Context, client *ent.Client, p *authz.Principal, userID, skip uuid.UUID) (*ent.ApprovalTicket, error) {
	envs := p.Environments(authz.ApprovalApprove)
	if len(envs) == 0 {
		return nil, nil
	}
	var envPreds []approvalticket.Environment
	for _, e := range envs {
		envPreds = append(envPreds, approvalticket.Environment(e))
	}
	t, err := client.ApprovalTicket.Query().Where(approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL),
		approvalticket.EnvironmentIn(envPreds...), approvalticket.RequesterIDNEQ(userID), approvalticket.IDNEQ(skip)).
		Order(ent.Asc(approvalticket.FieldCreatedAt), ent.Asc(approvalticket.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}

// AgeDays is how long a ticket has waited, in whole days.
func (s *Service) AgeDays(t *ent.ApprovalTicket) int {
	return int(s.now().Sub(t.CreatedAt).Hours() / 24)
}

// AgeClass colours inbox rows: 0–3 days normal, 4–7 yellow, more red (spec/flows.md §6.5).
func AgeClass(days int) string {
	switch {
	case days > 7:
		return "age-old"
	case days >= 4:
		return "age-warn"
	default:
		return "age-normal"
	}
}

// RequestFilter narrows "My requests".
type RequestFilter struct {
	Status string
	Type   string
	Page   paging.Page // 20 rows by default, at most 100; past the end is the last page
}

// MyRequests lists the user's own tickets, newest first.
func (s *Service) MyRequests(ctx context.Context, userID uuid.UUID, f RequestFilter) ([]*ent.ApprovalTicket, int, error) {
	q := s.Store.Ent.ApprovalTicket.Query().Where(approvalticket.RequesterID(userID))
	if f.Status != "" {
		q = q.Where(approvalticket.StatusEQ(approvalticket.Status(f.Status)))
	}
	if f.Type != "" {
		q = q.Where(approvalticket.TypeEQ(approvalticket.Type(f.Type)))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	pg := f.Page.Standard().Within(total)
	rows, err := q.Order(ent.Desc(approvalticket.FieldCreatedAt)).Offset(pg.Offset()).Limit(pg.Limit()).All(ctx)
	return rows, total, err
}

// TicketFor returns a ticket the user may see: the requester, approvers of its
// environment, and members of its System who may read VMs there.
func (s *Service) TicketFor(ctx context.Context, who Requester, id uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := s.ticket(ctx, id)
	if err != nil {
		return nil, err
	}
	env := string(t.Environment)
	if t.RequesterID == who.User.ID || who.Principal.HasIn(authz.ApprovalView, env) ||
		who.Principal.Check(authz.VMRead, authz.View, t.SystemID, env) == authz.Allow {
		return t, nil
	}
	return nil, ErrNotFound
}

// ApproverSees reports whether an approver may read VM v although he is not in its
// System: he holds approval:view in its environment and decided a ticket of the VM, or
// a ticket of the VM waits for a decision (he needs to see what he decides).
func (s *Service) ApproverSees(ctx context.Context, p *authz.Principal, userID uuid.UUID, v *ent.VM) (bool, error) {
	if !p.HasIn(authz.ApprovalView, string(v.Environment)) {
		return false, nil
	}
	return s.Store.Ent.ApprovalTicket.Query().Where(
		approvalticket.Or(approvalticket.ID(v.TicketID), approvalticket.VMID(v.ID)),
		approvalticket.Or(approvalticket.ApproverID(userID), approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)),
	).Exist(ctx)
}

// CanReadVM is the VM read rule of the portal: vm:read through the VM's System, or an
// approver's view of a VM he decides or decided (ApproverSees).
func (s *Service) CanReadVM(ctx context.Context, p *authz.Principal, userID uuid.UUID, v *ent.VM) (bool, error) {
	if p.Check(authz.VMRead, authz.View, v.SystemID, string(v.Environment)) == authz.Allow {
		return true, nil
	}
	return s.ApproverSees(ctx, p, userID, v)
}

// VMFilter narrows the VM list.
type VMFilter struct {
	SystemID    uuid.UUID
	ServiceID   uuid.UUID
	Namespace   string
	Environment string
	Status      string
	Page        paging.Page // 20 rows by default, at most 100; past the end is the last page
}

// VMs lists the VMs the user may see, newest first: all for platform admins, otherwise
// those of their Systems in environments where they hold vm:read.
func (s *Service) VMs(ctx context.Context, p *authz.Principal, f VMFilter) ([]*ent.VM, int, error) {
	q := s.Store.Ent.VM.Query().Where(liveVM)
	if !p.IsPlatformAdmin() {
		var systems []uuid.UUID
		for _, m := range p.Memberships {
			systems = append(systems, m.SystemID)
		}
		var envs []vm.Environment
		for _, e := range p.Environments(authz.VMRead) {
			envs = append(envs, vm.Environment(e))
		}
		if len(systems) == 0 || len(envs) == 0 {
			return nil, 0, nil
		}
		q = q.Where(vm.SystemIDIn(systems...), vm.EnvironmentIn(envs...))
	}
	if f.SystemID != uuid.Nil {
		q = q.Where(vm.SystemID(f.SystemID))
	}
	if f.ServiceID != uuid.Nil {
		q = q.Where(vm.ServiceID(f.ServiceID))
	}
	if f.Namespace != "" {
		q = q.Where(vm.NamespaceName(f.Namespace))
	}
	if f.Environment != "" {
		q = q.Where(vm.EnvironmentEQ(vm.Environment(f.Environment)))
	}
	if f.Status != "" {
		q = q.Where(vm.StatusEQ(vm.Status(f.Status)))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	pg := f.Page.Standard().Within(total)
	// Page through ids first (an index-only scan, cheap even at deep offsets), then load
	// only the rows shown.
	ids, err := q.Order(ent.Desc(vm.FieldCreatedAt), ent.Desc(vm.FieldID)).Offset(pg.Offset()).Limit(pg.Limit()).IDs(ctx)
	if err != nil || len(ids) == 0 {
		return nil, total, err
	}
	rows, err := s.Store.Ent.VM.Query().Where(vm.IDIn(ids...)).Order(ent.Desc(vm.FieldCreatedAt), ent.Desc(vm.FieldID)).All(ctx)
	return rows, total, err
}

// Requesters lists usernames for the inbox filter.
func (s *Service) Requesters(ctx context.Context) ([]string, error) {
	return s.Store.Ent.User.Query().Where(user.Disabled(false)).Order(ent.Asc(user.FieldUsername)).Select(user.FieldUsername).Strings(ctx)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// liveVM excludes tombstones with a literal condition (not a bind parameter), so cached
// generic plans can still use the partial index vm_live_created_at.
var liveVM = predicate.VM(func(s *entsql.Selector) {
	s.Where(entsql.ExprP(s.C(vm.FieldStatus) + " <> 'DELETED'"))
})
