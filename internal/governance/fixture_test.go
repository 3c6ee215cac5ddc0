package governance

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// fixture is a small organisation: System shop with service web, namespaces dev (test)
// and live (prod), one size, one template, two healthy clusters.
type fixture struct {
	t                     *testing.T
	ctx                   context.Context
	store                 *db.Store
	gov                   *Service
	alice, bob, carl      *ent.User
	svc                   *ent.Service
	dev, live             *ent.Namespace
	size, dedicated       *ent.InstanceSize
	tpl                   *ent.Template
	testCluster, prodClus *ent.Cluster
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: store, gov: &Service{Store: store, Jobs: ins}}
	c := store.Ent
	f.alice = f.user("alice", "Operator", []string{"test"})
	f.bob = f.user("bob", "Approver", []string{"test", "prod"})
	f.carl = f.user("carl", "Approver", []string{"test", "prod"})
	sys := must(c.System.Create().SetName("shop").Save(ctx))
	must(c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(f.alice.ID).SetRole(systemmember.RoleMember).Save(ctx))
	f.svc = must(c.Service.Create().SetSystemID(sys.ID).SetName("web").Save(ctx))
	f.dev = must(c.Namespace.Create().SetName("dev").SetEnvironment("test").Save(ctx))
	f.live = must(c.Namespace.Create().SetName("live").SetEnvironment("prod").Save(ctx))
	f.size = must(c.InstanceSize.Create().SetName("medium").SetCPUCores(2).SetMemoryMib(4096).Save(ctx))
	f.dedicated = must(c.InstanceSize.Create().SetName("pinned").SetCPUCores(4).SetMemoryMib(8192).SetDedicatedCPU(true).Save(ctx))
	f.tpl = must(c.Template.Create().SetName("ubuntu").SetVersion(1).SetStatus("active").SetImage("quay.io/containerdisks/ubuntu:24.04").Save(ctx))
	f.testCluster = must(c.Cluster.Create().SetName("sim-a").SetEnvironment("test").SetProvider("sim").SetStatus("HEALTHY").
		SetStorageClasses([]string{"standard", "fast"}).SetDefaultStorageClass("standard").SetDedicatedCPU(true).Save(ctx))
	f.prodClus = must(c.Cluster.Create().SetName("sim-p").SetEnvironment("prod").SetProvider("sim").SetStatus("HEALTHY").
		SetStorageClasses([]string{"replicated"}).SetDefaultStorageClass("replicated").Save(ctx))
	return f
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (f *fixture) user(name, roleName string, envs []string) *ent.User {
	c := f.store.Ent
	u := must(c.User.Create().SetUsername(name).SetAuthType(user.AuthTypeOidc).SetExternalID("sub-" + name).Save(f.ctx))
	r := must(c.Role.Query().Where().All(f.ctx))
	for _, role := range r {
		if role.Name == roleName {
			must(c.RoleBinding.Create().SetUserID(u.ID).SetRoleID(role.ID).SetAllowedEnvironments(envs).SetSource(rolebinding.SourceManual).Save(f.ctx))
		}
	}
	return u
}

func (f *fixture) who(u *ent.User) Requester {
	p, err := authz.Load(f.ctx, f.store.Ent, u.ID, u.Username)
	if err != nil {
		f.t.Fatal(err)
	}
	return Requester{User: u, Principal: p}
}

func (f *fixture) request(ns *ent.Namespace, size *ent.InstanceSize, disk int) RequestInput {
	return RequestInput{ServiceID: f.svc.ID, NamespaceID: ns.ID, TemplateID: f.tpl.ID, SizeID: size.ID, DiskGB: disk, Reason: "load tests"}
}

func (f *fixture) submit() *ent.ApprovalTicket {
	f.t.Helper()
	t, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.size, 100))
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

func (f *fixture) count(table string) int {
	f.t.Helper()
	var n int
	if err := f.store.SQL.QueryRowContext(f.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) jobsFor(eventID uuid.UUID) int {
	var n int
	err := f.store.SQL.QueryRowContext(f.ctx, "SELECT count(*) FROM river_job WHERE kind = 'vm_create' AND args->>'event_id' = $1", eventID.String()).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}
