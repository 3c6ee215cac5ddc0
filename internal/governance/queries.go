package governance

import (
	"context"
	"database/sql"
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
	Page        paging.Page   // 20 rows by default, at most 100; past the end is the last page
	Keyset      paging.Keyset // after/before a row, or the last page; overrides Page
}

// Inbox lists pending tickets in the environments where the user may view approvals,
// oldest first (the (status, created_at) index serves it), with the capped count, in one
// statement (see ticketPage).
func (s *Service) Inbox(ctx context.Context, p *authz.Principal, f InboxFilter) ([]*ent.ApprovalTicket, paging.Window, error) {
	envs := p.Environments(authz.ApprovalView)
	if f.Environment != "" {
		if !contains(envs, f.Environment) {
			return nil, paging.Window{Page: f.Page.Standard()}, nil
		}
		envs = []string{f.Environment}
	}
	if len(envs) == 0 {
		return nil, paging.Window{Page: f.Page.Standard()}, nil
	}
	// The literal status condition lets cached generic plans use the status index.
	l := &listing{table: "approval_tickets", alias: "t", where: []string{"t.status = 'PENDING_APPROVAL'"}}
	l.cond("t.environment = ANY(" + l.arg(envs) + "::text[])")
	if f.Type != "" {
		l.cond("t.type = " + l.arg(f.Type))
	}
	if f.Requester != "" {
		l.cond("t.requester_name = " + l.arg(f.Requester))
	}
	if f.MinAgeDays > 0 {
		l.cond("t.created_at <= " + l.arg(s.sinceDays(f.MinAgeDays)))
	}
	oneRowPerBatch(l, "o.status = 'PENDING_APPROVAL'")
	return s.ticketPage(ctx, l, f.Page, f.Keyset)
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
	Page   paging.Page   // 20 rows by default, at most 100; past the end is the last page
	Keyset paging.Keyset // after/before a row, or the last page; overrides Page
}

// MyRequests lists the user's own tickets, newest first, with the capped count, in one
// statement (see ticketPage).
func (s *Service) MyRequests(ctx context.Context, userID uuid.UUID, f RequestFilter) ([]*ent.ApprovalTicket, paging.Window, error) {
	l := &listing{table: "approval_tickets", alias: "t", desc: true}
	l.cond("t.requester_id = " + l.arg(userID))
	same := "TRUE"
	if f.Status != "" {
		ph := l.arg(f.Status)
		l.cond("t.status = " + ph)
		same = "o.status = " + ph
	}
	if f.Type != "" {
		l.cond("t.type = " + l.arg(f.Type))
	}
	oneRowPerBatch(l, same)
	return s.ticketPage(ctx, l, f.Page, f.Keyset)
}

// oneRowPerBatch keeps, of a batch's children matching same (a condition on alias o),
// only the first, which the lists show as the batch ("3 VMs for …"); tickets outside
// batches are kept. The batch_id index finds the siblings.
func oneRowPerBatch(l *listing, same string) {
	l.cond("(t.batch_id IS NULL OR NOT EXISTS (SELECT 1 FROM approval_tickets o WHERE o.batch_id = t.batch_id AND " + same +
		" AND (o.created_at, o.id) < (t.created_at, t.id)))")
}

// TicketFor returns a ticket the user may see: the requester, approvers of its
// environment, and members of its System who may read VMs there.
// The rows its page shows beside it come in the same statement (see RelatedOf).
func (s *Service) TicketFor(ctx context.Context, who Requester, id uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := s.Store.Ent.ApprovalTicket.Query().Where(approvalticket.ID(id), withRelated).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
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
	Page        paging.Page   // 20 rows by default, at most 100; past the end is the last page
	Keyset      paging.Keyset // after/before a row, or the last page; overrides Page
	// NoCount skips the count (the table body fragment shows no pager).
	NoCount bool
}

// VMRow is one VM of the list with the names it shows, read in the list's one statement.
type VMRow struct {
	ID            uuid.UUID
	Name          string
	NamespaceName string
	Environment   string
	Status        string
	Size          string
	CreatedAt     time.Time
	SystemID      uuid.UUID
	System        string
	Service       string
	Cluster       string
	// Busy: an approved operation on the VM is under way (the row will change).
	Busy bool
}

// VMs lists the VMs the user may see, newest first: all for platform admins, otherwise
// those of their Systems in environments where they hold vm:read. One statement: the
// page, the names of its System, Service and cluster, whether an operation is in flight,
// and the capped count (see listing).
func (s *Service) VMs(ctx context.Context, p *authz.Principal, f VMFilter) ([]VMRow, paging.Window, error) {
	// The literal status condition (not a parameter) lets cached generic plans use the
	// partial index vm_live_created_at.
	l := &listing{table: "vms", alias: "v", desc: true, where: []string{"v.status <> 'DELETED'"}}
	if !p.IsPlatformAdmin() {
		var systems []string
		for _, m := range p.Memberships {
			systems = append(systems, m.SystemID.String())
		}
		envs := p.Environments(authz.VMRead)
		if len(systems) == 0 || len(envs) == 0 {
			return nil, paging.Window{Page: f.Page.Standard()}, nil
		}
		l.cond("v.system_id = ANY(" + l.arg(systems) + "::uuid[])")
		l.cond("v.environment = ANY(" + l.arg(envs) + "::text[])")
	}
	if f.SystemID != uuid.Nil {
		l.cond("v.system_id = " + l.arg(f.SystemID))
	}
	if f.ServiceID != uuid.Nil {
		l.cond("v.service_id = " + l.arg(f.ServiceID))
	}
	if f.Namespace != "" {
		l.cond("v.namespace_name = " + l.arg(f.Namespace))
	}
	if f.Environment != "" {
		l.cond("v.environment = " + l.arg(f.Environment))
	}
	if f.Status != "" {
		l.cond("v.status = " + l.arg(f.Status))
	}
	var out []VMRow
	w, err := l.run(ctx, s.Store.SQL, f.Page, f.Keyset, pageQuery{
		cols: `v.id, v.name, v.namespace_name, v.environment, v.status, v.instance_size_name, v.created_at,
			v.system_id, sy.name, sv.name, coalesce(cl.name, ''),
			EXISTS (SELECT 1 FROM approval_tickets t WHERE t.vm_id = v.id AND t.status IN ('APPROVED', 'EXECUTING'))`,
		joins: ` JOIN systems sy ON sy.id = v.system_id JOIN services sv ON sv.id = v.service_id
			LEFT JOIN clusters cl ON cl.id = v.cluster_id`,
		withCount: !f.NoCount,
		scan: func(rows *sql.Rows, total *int) (paging.Cursor, error) {
			var r VMRow
			err := rows.Scan(&r.ID, &r.Name, &r.NamespaceName, &r.Environment, &r.Status, &r.Size, &r.CreatedAt,
				&r.SystemID, &r.System, &r.Service, &r.Cluster, &r.Busy, total)
			out = append(out, r)
			return paging.Cursor{At: r.CreatedAt, ID: r.ID}, err
		},
		drop: func(i int) { out = append(out[:i], out[i+1:]...) },
		size: func() int { return len(out) },
	})
	return out, w, err
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

// VMNames are the names a VM page shows beside the VM row.
type VMNames struct {
	System, Service, Cluster string
	Template                 string // "name vN", or "" when the template is gone
}

// VMWithNames loads a VM with the names of its System, Service, cluster and template,
// in one statement: the names ride along as scalar subqueries on primary keys, read back
// through Ent's selected values.
func (s *Service) VMWithNames(ctx context.Context, id uuid.UUID) (*ent.VM, VMNames, error) {
	names := predicate.VM(func(sel *entsql.Selector) {
		sel.AppendSelectExprAs(entsql.Expr("coalesce((SELECT name FROM systems WHERE id = "+sel.C(vm.FieldSystemID)+"), '')"), "system_name")
		sel.AppendSelectExprAs(entsql.Expr("coalesce((SELECT name FROM services WHERE id = "+sel.C(vm.FieldServiceID)+"), '')"), "service_name")
		sel.AppendSelectExprAs(entsql.Expr("coalesce((SELECT name FROM clusters WHERE id = "+sel.C(vm.FieldClusterID)+"), '')"), "cluster_name")
		sel.AppendSelectExprAs(entsql.Expr("coalesce((SELECT name || ' v' || version FROM templates WHERE id = "+sel.C(vm.FieldTemplateID)+"), '')"), "template_name")
	})
	v, err := s.Store.Ent.VM.Query().Where(vm.ID(id), names).Only(ctx)
	if err != nil {
		return nil, VMNames{}, err
	}
	value := func(name string) string {
		x, err := v.Value(name)
		if err != nil {
			return ""
		}
		switch t := x.(type) {
		case string:
			return t
		case []byte:
			return string(t)
		case *sql.NullString:
			return t.String
		}
		return ""
	}
	return v, VMNames{
		System:   value("system_name"),
		Service:  value("service_name"),
		Cluster:  value("cluster_name"),
		Template: value("template_name"),
	}, nil
}
