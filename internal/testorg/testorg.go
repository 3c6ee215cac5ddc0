// Package testorg builds a small organisation in a test database — users with roles, a
// System with a Service, a namespace, a size, a template and a simulated cluster — and
// walks requests through governance, for tests and benchmarks of what happens after
// approval.
package testorg

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
)

// Org is the organisation: alice (Operator, member) requests, bob (Approver) approves,
// olga owns the System.
type Org struct {
	Alice, Bob, Olga *ent.User
	System           *ent.System
	Service          *ent.Service
	Namespace        *ent.Namespace
	Size             *ent.InstanceSize
	Template         *ent.Template
	Cluster          *ent.Cluster
}

// New creates the organisation with a simulated test cluster named clusterName.
// seed.Base must have run (it creates the built-in roles).
func New(tb testing.TB, ctx context.Context, c *ent.Client, clusterName string) *Org {
	tb.Helper()
	check := func(err error) {
		if err != nil {
			tb.Helper()
			tb.Fatalf("testorg: %v", err)
		}
	}
	o := &Org{}
	var err error
	o.Alice, err = newUser(ctx, c, "alice", "Operator", []string{"test"})
	check(err)
	o.Bob, err = newUser(ctx, c, "bob", "Approver", []string{"test", "prod"})
	check(err)
	o.Olga, err = newUser(ctx, c, "olga", "Viewer", []string{"test"})
	check(err)
	o.System, err = c.System.Create().SetName("shop").Save(ctx)
	check(err)
	check(c.SystemMember.Create().SetSystemID(o.System.ID).SetUserID(o.Alice.ID).SetRole(systemmember.RoleMember).Exec(ctx))
	check(c.SystemMember.Create().SetSystemID(o.System.ID).SetUserID(o.Olga.ID).SetRole(systemmember.RoleOwner).Exec(ctx))
	o.Service, err = c.Service.Create().SetSystemID(o.System.ID).SetName("web").Save(ctx)
	check(err)
	o.Namespace, err = c.Namespace.Create().SetName("dev").SetEnvironment("test").Save(ctx)
	check(err)
	o.Size, err = c.InstanceSize.Create().SetName("medium").SetCPUCores(2).SetMemoryMib(4096).Save(ctx)
	check(err)
	o.Template, err = c.Template.Create().SetName("ubuntu").SetVersion(1).SetStatus("active").
		SetImage("quay.io/containerdisks/ubuntu:24.04").Save(ctx)
	check(err)
	o.Cluster, err = c.Cluster.Create().SetName(clusterName).SetEnvironment("test").SetProvider("sim").SetStatus("HEALTHY").
		SetStorageClasses([]string{"standard"}).SetDefaultStorageClass("standard").Save(ctx)
	check(err)
	return o
}

func newUser(ctx context.Context, c *ent.Client, name, roleName string, envs []string) (*ent.User, error) {
	u, err := c.User.Create().SetUsername(name).SetAuthType(user.AuthTypeOidc).SetIssuer("https://idp.testorg.example").SetExternalID("sub-" + name).Save(ctx)
	if err != nil {
		return nil, err
	}
	roles, err := c.Role.Query().All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.Name == roleName {
			if err := c.RoleBinding.Create().SetUserID(u.ID).SetRoleID(r.ID).SetAllowedEnvironments(envs).
				SetSource(rolebinding.SourceManual).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

// Who is u as governance sees them.
func Who(ctx context.Context, c *ent.Client, u *ent.User) (governance.Requester, error) {
	p, err := authz.Load(ctx, c, u.ID, u.Username)
	return governance.Requester{User: u, Principal: p}, err
}

// Approved submits one request as alice and approves it as bob on the org's cluster,
// returning the event id its vm_create job carries and the VM row.
func (o *Org) Approved(ctx context.Context, c *ent.Client, gov *governance.Service) (uuid.UUID, *ent.VM, error) {
	alice, err := Who(ctx, c, o.Alice)
	if err != nil {
		return uuid.Nil, nil, err
	}
	bob, err := Who(ctx, c, o.Bob)
	if err != nil {
		return uuid.Nil, nil, err
	}
	t, err := gov.Submit(ctx, alice, governance.RequestInput{ServiceID: o.Service.ID, NamespaceID: o.Namespace.ID,
		TemplateID: o.Template.ID, SizeID: o.Size.ID, DiskGB: 100, Reason: "load and fault tests"})
	if err != nil {
		return uuid.Nil, nil, err
	}
	v, err := gov.Approve(ctx, bob, governance.ApproveInput{TicketID: t.ID, ClusterID: o.Cluster.ID})
	if err != nil {
		return uuid.Nil, nil, err
	}
	return t.EventID, v, nil
}
