package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/policy"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

func admin(name string) policy.Actor {
	id := uuid.New()
	return policy.Actor{ID: id, Name: name, Principal: authz.NewPrincipal(id, name, []authz.Binding{{
		Role:         "PlatformAdmin",
		Permissions:  []string{authz.PlatformAdmin},
		ScopeType:    "global",
		Environments: []string{"test", "prod"},
	}}, nil)}
}

func setup(t *testing.T) (context.Context, *db.Store, *policy.Service) {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	return ctx, store, &policy.Service{Store: store}
}

func TestEditMakesANewVersionAndPrioritiesDoNotTie(t *testing.T) {
	ctx, store, ps := setup(t)
	root := admin("root")
	p1, err := ps.Create(ctx, root, policy.Input{Name: "small", Priority: 10, Environments: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	if p1.Enabled || p1.Version != 1 {
		t.Fatalf("a new policy is a disabled draft v1: %+v", p1)
	}
	var ve *domain.ValidationError
	if _, err := ps.Create(ctx, root, policy.Input{Name: "other", Priority: 10, Environments: []string{"test"}}); !errors.As(err, &ve) || ve.Fields["priority"] == "" {
		t.Fatalf("tie at save: %v", err)
	}
	if _, err := ps.Create(ctx, root, policy.Input{Name: "", Environments: nil}); !errors.As(err, &ve) || ve.Fields["name"] == "" || ve.Fields["environments"] == "" {
		t.Fatalf("validation: %v", err)
	}
	if err := ps.SetEnabled(ctx, root, p1.PolicyID, true); err != nil {
		t.Fatal(err)
	}
	p2, err := ps.Update(ctx, root, p1.PolicyID, policy.Input{Name: "small", Priority: 10, Environments: []string{"test"}, MaxDiskGB: 100})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Version != 2 || !p2.Enabled || p2.MaxDiskGB != 100 {
		t.Fatalf("v2: %+v", p2)
	}
	versions, err := ps.Versions(ctx, p1.PolicyID)
	if err != nil || len(versions) != 2 || versions[1].SupersededAt == nil || versions[1].MaxDiskGB != 0 {
		t.Fatalf("versions: %v %v", versions, err)
	}
	a, err := store.Ent.AuditLog.Query().Where(auditlog.Action("autoapproval.policy.update")).Only(ctx)
	if err != nil || a.Details["before"] == nil || a.Details["after"] == nil {
		t.Fatalf("audit of the edit: %+v %v", a, err)
	}
	member := policy.Actor{ID: uuid.New(), Name: "alice", Principal: authz.NewPrincipal(uuid.New(), "alice", nil, nil)}
	if _, err := ps.Create(ctx, member, policy.Input{Name: "x", Priority: 1, Environments: []string{"test"}}); err == nil {
		t.Fatal("a non-admin created a policy")
	}
}

func TestMatches(t *testing.T) {
	size := &ent.InstanceSize{ID: uuid.New(), Name: "small"}
	gpu := &ent.InstanceSize{ID: uuid.New(), Name: "gpu", RequiresGpu: true}
	r := policy.Request{Environment: "test", Size: size, TemplateName: "ubuntu", Roles: []string{"Operator"}, DiskGB: 80}
	p := &ent.AutoApprovalPolicy{Environments: []string{"test"}, StandardSizesOnly: true, TemplateNames: []string{"ubuntu"},
		RequesterRoles: []string{"Operator"}, MaxDiskGB: 100}
	if ok, why := policy.Matches(p, r); !ok {
		t.Fatalf("should match: %s", why)
	}
	for name, change := range map[string]func(*policy.Request){
		"prod":     func(r *policy.Request) { r.Environment = "prod" },
		"gpu":      func(r *policy.Request) { r.Size = gpu },
		"template": func(r *policy.Request) { r.TemplateName = "rocky" },
		"role":     func(r *policy.Request) { r.Roles = []string{"Viewer"} },
		"disk":     func(r *policy.Request) { r.DiskGB = 101 },
	} {
		x := r
		change(&x)
		if ok, _ := policy.Matches(p, x); ok {
			t.Errorf("%s: matched", name)
		}
	}
	// prod named but not confirmed by a second admin: no match; confirmed by the author: still none.
	author := uuid.New()
	prod := &ent.AutoApprovalPolicy{Environments: []string{"prod"}, AuthorID: author}
	r.Environment = "prod"
	if ok, _ := policy.Matches(prod, r); ok {
		t.Fatal("unconfirmed prod policy matched")
	}
	prod.ProdConfirmedBy = &author
	if ok, _ := policy.Matches(prod, r); ok {
		t.Fatal("prod policy confirmed by its own author matched")
	}
	other := uuid.New()
	prod.ProdConfirmedBy = &other
	if ok, _ := policy.Matches(prod, r); !ok {
		t.Fatal("confirmed prod policy did not match")
	}
}

func TestDryRunReplaysDecidedRequests(t *testing.T) {
	ctx, store, ps := setup(t)
	org := testorg.New(t, ctx, store.Ent, "sim-a")
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gov := &governance.Service{Store: store, Jobs: ins}
	alice := must(testorg.Who(ctx, store.Ent, org.Alice))
	bob := must(testorg.Who(ctx, store.Ent, org.Bob))
	req := func(disk int) *ent.ApprovalTicket {
		tk, err := gov.Submit(ctx, alice, governance.RequestInput{ServiceID: org.Service.ID, NamespaceID: org.Namespace.ID,
			TemplateID: org.Template.ID, SizeID: org.Size.ID, DiskGB: disk, Reason: "tests"})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	small := req(60)
	if _, err := gov.Approve(ctx, bob, governance.ApproveInput{TicketID: small.ID}); err != nil {
		t.Fatal(err)
	}
	big := req(400)
	if err := gov.Reject(ctx, bob, big.ID, "too big"); err != nil {
		t.Fatal(err)
	}
	req(70) // still pending: not replayed
	draft := policy.Unsaved(policy.Input{Name: "small disks", Environments: []string{"test"}, MaxDiskGB: 100}, uuid.New())
	dr, err := ps.DryRun(ctx, admin("root"), draft)
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.Rows) != 2 || dr.Matches != 1 {
		t.Fatalf("dry run: %+v", dr)
	}
	for _, row := range dr.Rows {
		switch row.TicketID {
		case small.ID:
			if !row.WouldApprove || row.DecidedBy != "bob" {
				t.Fatalf("approved row: %+v", row)
			}
		case big.ID:
			if row.WouldApprove || row.Reason != "too big" || row.Mismatch == "" {
				t.Fatalf("rejected row: %+v", row)
			}
		}
	}
	// A policy naming a disabled size never matches and says why.
	store.Ent.InstanceSize.UpdateOneID(org.Size.ID).SetEnabled(false).ExecX(ctx)
	withSize := policy.Unsaved(policy.Input{Name: "sized", Environments: []string{"test"}, SizeIDs: []string{org.Size.ID.String()}}, uuid.New())
	dr, err = ps.DryRun(ctx, admin("root"), withSize)
	if err != nil || len(dr.Warnings) == 0 || dr.Matches != 0 {
		t.Fatalf("warnings: %+v %v", dr, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
