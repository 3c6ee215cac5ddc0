package testorg

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/governance"
)

// DemoRequest names, in the demo organisation (seed.Demo), who asks for a small Ubuntu
// VM of intranet/wiki, in which namespace, who approves it and onto which cluster.
type DemoRequest struct {
	Requester, Approver string // demo user names
	Namespace, Cluster  string
	Reason              string
	// Count above 1 submits a batch of that many (DemoTicket then returns its first child).
	Count int
}

// DemoVM submits and approves one request through the governance use cases (the
// browser flow for that is tested elsewhere) and returns the VM row, still CREATING,
// and the governance service used, whose jobs the running portal's workers execute.
func DemoVM(ctx context.Context, store *db.Store, r DemoRequest) (*ent.VM, *governance.Service, error) {
	tk, gov, err := DemoTicket(ctx, store, r)
	if err != nil {
		return nil, nil, err
	}
	approver, err := DemoWho(ctx, store.Ent, r.Approver)
	if err != nil {
		return nil, nil, err
	}
	target, err := store.Ent.Cluster.Query().Where(cluster.Name(r.Cluster)).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	v, err := gov.Approve(ctx, approver, governance.ApproveInput{TicketID: tk.ID, ClusterID: target.ID})
	return v, gov, err
}

// DemoTicket submits the request of r (its Approver and Cluster are not used) and
// returns the pending ticket and the governance service used.
func DemoTicket(ctx context.Context, store *db.Store, r DemoRequest) (*ent.ApprovalTicket, *governance.Service, error) {
	c := store.Ent
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		return nil, nil, err
	}
	gov := &governance.Service{Store: store, Jobs: ins}
	requester, err := DemoWho(ctx, c, r.Requester)
	if err != nil {
		return nil, nil, err
	}
	svc, err := c.Service.Query().Where(service.Name("wiki")).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	ns, err := c.Namespace.Query().Where(namespace.Name(r.Namespace)).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	tpl, err := c.Template.Query().Where(template.Name("ubuntu-24.04"), template.StatusEQ(template.StatusActive)).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	size, err := c.InstanceSize.Query().Where(instancesize.Name("small")).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	in := governance.RequestInput{
		ServiceID:   svc.ID,
		NamespaceID: ns.ID,
		TemplateID:  tpl.ID,
		SizeID:      size.ID,
		DiskGB:      80,
		Reason:      r.Reason,
	}
	if r.Count > 1 {
		b, err := gov.SubmitBatch(ctx, requester, in, r.Count)
		if err != nil {
			return nil, nil, err
		}
		// The batch's first child; its BatchID leads to the batch.
		tk, err := c.ApprovalTicket.Query().Where(approvalticket.BatchID(b.ID)).First(ctx)
		return tk, gov, err
	}
	tk, err := gov.Submit(ctx, requester, in)
	if err != nil {
		return nil, nil, err
	}
	return tk, gov, nil
}

// DemoWho is the demo user named username as governance sees them.
func DemoWho(ctx context.Context, c *ent.Client, username string) (governance.Requester, error) {
	u, err := c.User.Query().Where(user.Username(username)).Only(ctx)
	if err != nil {
		return governance.Requester{}, err
	}
	return Who(ctx, c, u)
}
