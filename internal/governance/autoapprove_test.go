package governance

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/policy"
)

func adminActor(name string) policy.Actor {
	id := uuid.New()
	p := authz.NewPrincipal(id, name, []authz.Binding{{
		Role:         "PlatformAdmin",
		Permissions:  []string{authz.PlatformAdmin},
		ScopeType:    "global",
		Environments: []string{"test", "prod"},
	}}, nil)
	return policy.Actor{ID: id, Name: name, Principal: p}
}

// enabledPolicy stores and enables a policy for the test environment.
func (f *fixture) enabledPolicy(in policy.Input) *ent.AutoApprovalPolicy {
	f.t.Helper()
	ps := &policy.Service{Store: f.store}
	admin := adminActor("root")
	if in.Name == "" {
		in.Name = "small test VMs"
	}
	if len(in.Environments) == 0 {
		in.Environments = []string{"test"}
	}
	p, err := ps.Create(f.ctx, admin, in)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := ps.SetEnabled(f.ctx, admin, p.PolicyID, true); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func TestMatchingPolicyApprovesAtSubmit(t *testing.T) {
	f := newFixture(t)
	p := f.enabledPolicy(policy.Input{SizeIDs: []string{f.size.ID.String()}, MaxDiskGB: 200})
	tk := f.submit()
	if tk.Status != approvalticket.StatusAPPROVED || tk.DecidedByPolicyID == nil || *tk.DecidedByPolicyID != p.PolicyID ||
		tk.DecidedByPolicyVersion == nil || *tk.DecidedByPolicyVersion != 1 || tk.ApproverName != "policy small test VMs (v1)" || tk.ApproverID != nil {
		t.Fatalf("ticket: %+v", tk)
	}
	v := must(f.store.Ent.VM.Query().Where(vm.TicketID(tk.ID)).Only(f.ctx))
	if v.Name != "dev-shop-web-01" || v.Status != vm.StatusCREATING || v.ClusterID != f.testCluster.ID || v.StorageClass != "standard" {
		t.Fatalf("vm: %+v", v)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID)); ev.Status != domainevent.StatusPROCESSING {
		t.Fatalf("event: %s", ev.Status)
	}
	if f.jobsFor(tk.EventID) != 1 {
		t.Fatal("no job for the auto-approved request")
	}
	a := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.auto_approve")).Only(f.ctx))
	if a.ActorName != "policy small test VMs (v1)" || a.Details["policy_id"] != p.PolicyID.String() {
		t.Fatalf("audit: %+v", a)
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).Count(f.ctx)); n != 0 {
		t.Fatalf("approvers asked to decide an auto-approved request: %d", n)
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeREQUEST_APPROVED), notification.RecipientID(f.alice.ID)).Count(f.ctx)); n != 1 {
		t.Fatal("requester not told")
	}
	// Outside the policy (the pinned size) the request waits for a person.
	other, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.dedicated, 100))
	if err != nil {
		t.Fatal(err)
	}
	if other.Status != approvalticket.StatusPENDING_APPROVAL || other.AutoApprovalNote != "" {
		t.Fatalf("non-matching request: %s %q", other.Status, other.AutoApprovalNote)
	}
}

// The author of a policy may be approved by it; the audit row says so.
func TestPolicyAuthorIsApprovedAndAuditedAsSuch(t *testing.T) {
	f := newFixture(t)
	author := adminActor("alice")
	author.ID = f.alice.ID
	ps := &policy.Service{Store: f.store}
	p := must(ps.Create(f.ctx, author, policy.Input{Name: "mine", Environments: []string{"test"}}))
	if err := ps.SetEnabled(f.ctx, adminActor("root"), p.PolicyID, true); err != nil {
		t.Fatal(err)
	}
	if tk := f.submit(); tk.Status != approvalticket.StatusAPPROVED {
		t.Fatalf("author's request: %s", tk.Status)
	}
	a := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action("approval.auto_approve")).Only(f.ctx))
	if a.Details["requester_is_policy_author"] != true {
		t.Fatalf("audit details: %v", a.Details)
	}
}

func TestFailureAfterJobInsertOfAnAutoApprovalLeavesNothing(t *testing.T) {
	f := newFixture(t)
	f.enabledPolicy(policy.Input{})
	jobs := f.count("river_job")
	f.gov.afterJobInsert = func() error { return errors.New("injected failure after the job insert") }
	if _, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.size, 100)); err == nil {
		t.Fatal("submit succeeded despite the injected failure")
	}
	if f.count("river_job") != jobs || f.count("vms") != 0 || f.count("approval_tickets") != 0 || f.count("domain_events") != 0 {
		t.Fatal("a rolled-back auto-approval left rows behind")
	}
	if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.ActionIn("vm.request", "approval.auto_approve")).Count(f.ctx)); n != 0 {
		t.Fatal("audit rows of a rolled-back submit")
	}
	if n := f.count("notifications"); n != 0 {
		t.Fatalf("notifications of a rolled-back submit: %d", n)
	}
	if svc := must(f.store.Ent.Service.Get(f.ctx, f.svc.ID)); svc.NextInstanceIndex != 1 {
		t.Fatalf("instance counter moved: %d", svc.NextInstanceIndex)
	}
	f.gov.afterJobInsert = nil
	if tk := f.submit(); tk.Status != approvalticket.StatusAPPROVED {
		t.Fatalf("retry: %s", tk.Status)
	}
}

func TestNoEligibleClusterFallsBackToTheInboxWithTheReason(t *testing.T) {
	f := newFixture(t)
	f.enabledPolicy(policy.Input{})
	f.store.Ent.Cluster.UpdateOneID(f.testCluster.ID).SetStatus("UNHEALTHY").ExecX(f.ctx)
	tk := f.submit()
	if tk.Status != approvalticket.StatusPENDING_APPROVAL || tk.AutoApprovalNote == "" {
		t.Fatalf("fallback: %s %q", tk.Status, tk.AutoApprovalNote)
	}
	if f.count("vms") != 0 {
		t.Fatal("a VM without a cluster")
	}
	if n := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).Count(f.ctx)); n == 0 {
		t.Fatal("approvers not asked after the fallback")
	}
}

func TestKillSwitchAndProdNeedAConfirmation(t *testing.T) {
	f := newFixture(t)
	root, second := adminActor("root"), adminActor("second")
	ps := &policy.Service{Store: f.store}
	p := f.enabledPolicy(policy.Input{Environments: []string{"test", "prod"}})
	if err := ps.SetKillSwitch(f.ctx, second, true); err != nil {
		t.Fatal(err)
	}
	if tk := f.submit(); tk.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatalf("kill switch on, still auto-approved: %s", tk.Status)
	}
	if err := ps.SetKillSwitch(f.ctx, second, false); err != nil {
		t.Fatal(err)
	}
	// prod: dana (System owner with prod) asks; not matched until a second admin confirms.
	dana := f.dana()
	prodReq := func() *ent.ApprovalTicket {
		t.Helper()
		tk, err := f.gov.Submit(f.ctx, f.who(dana), f.request(f.live, f.size, 100))
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if tk := prodReq(); tk.Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatal("prod matched without a second admin's confirmation")
	}
	if err := ps.ConfirmProd(f.ctx, policy.Actor{ID: p.AuthorID, Name: "root", Principal: root.Principal}, p.PolicyID); err == nil {
		t.Fatal("the author confirmed their own policy")
	}
	if err := ps.ConfirmProd(f.ctx, second, p.PolicyID); err != nil {
		t.Fatal(err)
	}
	pending := must(f.store.Ent.ApprovalTicket.Query().Where(approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL),
		approvalticket.EnvironmentEQ("prod")).First(f.ctx))
	if err := f.gov.Cancel(f.ctx, f.who(dana), pending.ID, "again"); err != nil {
		t.Fatal(err)
	}
	if tk := prodReq(); tk.Status != approvalticket.StatusAPPROVED {
		t.Fatalf("confirmed prod policy did not approve: %s", tk.Status)
	}
	for _, action := range []string{"autoapproval.kill_switch", "autoapproval.policy.confirm_prod", "autoapproval.policy.confirm_prod_refused"} {
		if n := must(f.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).Count(f.ctx)); n == 0 {
			t.Fatalf("not audited: %s", action)
		}
	}
}

// Concurrent submits on two Services of one System: the per-System limit admits exactly K.
func TestDailyLimitHoldsUnderConcurrentSubmits(t *testing.T) {
	f := newFixture(t)
	const limit = 3
	f.enabledPolicy(policy.Input{MaxPerSystemPerDay: limit})
	svc2 := must(f.store.Ent.Service.Create().SetSystemID(f.svc.SystemID).SetName("api").Save(f.ctx))
	var wg sync.WaitGroup
	results := make([]*ent.ApprovalTicket, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := f.request(f.dev, f.size, 100)
			in.SizeID = []uuid.UUID{f.size.ID, f.dedicated.ID}[i/4%2]
			if i%2 == 1 {
				in.ServiceID = svc2.ID
			}
			results[i], errs[i] = f.gov.Submit(f.ctx, f.who(f.alice), in)
		}()
	}
	wg.Wait()
	approved := 0
	for i, tk := range results {
		var dup *DuplicateError
		switch {
		case errors.As(errs[i], &dup):
		case errs[i] != nil:
			t.Fatalf("submit %d: %v", i, errs[i])
		case tk.Status == approvalticket.StatusAPPROVED:
			approved++
		}
	}
	n := must(f.store.Ent.ApprovalTicket.Query().Where(approvalticket.DecidedByPolicyIDNotNil()).Count(f.ctx))
	if approved != limit || n != limit {
		t.Fatalf("auto-approved %d (stored %d), want exactly %d", approved, n, limit)
	}
	notes := must(f.store.Ent.ApprovalTicket.Query().Where(approvalticket.AutoApprovalNoteNEQ("")).Count(f.ctx))
	if notes == 0 {
		t.Fatal("the requests over the limit do not say why they wait")
	}
}

func TestPerRequesterLimitAndWarningsStopMatching(t *testing.T) {
	f := newFixture(t)
	p := f.enabledPolicy(policy.Input{MaxPerRequesterPerDay: 1, SizeIDs: []string{f.size.ID.String(), f.dedicated.ID.String()}})
	if tk := f.submit(); tk.Status != approvalticket.StatusAPPROVED {
		t.Fatalf("first: %s", tk.Status)
	}
	second, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.dedicated, 100))
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != approvalticket.StatusPENDING_APPROVAL || second.AutoApprovalNote == "" {
		t.Fatalf("over the per-requester limit: %s %q", second.Status, second.AutoApprovalNote)
	}
	// Raise the limit (version 2) but disable one of its sizes: a warning, so no match at all.
	ps := &policy.Service{Store: f.store}
	in := policy.InputOf(p)
	in.MaxPerRequesterPerDay = 10
	if _, err := ps.Update(f.ctx, adminActor("root"), p.PolicyID, in); err != nil {
		t.Fatal(err)
	}
	f.store.Ent.InstanceSize.UpdateOneID(f.dedicated.ID).SetEnabled(false).ExecX(f.ctx)
	in2 := f.request(f.dev, f.size, 120)
	in2.ServiceID = must(f.store.Ent.Service.Create().SetSystemID(f.svc.SystemID).SetName("api").Save(f.ctx)).ID
	third, err := f.gov.Submit(f.ctx, f.who(f.alice), in2)
	if err != nil {
		t.Fatal(err)
	}
	if third.Status != approvalticket.StatusPENDING_APPROVAL || third.AutoApprovalNote != "" {
		t.Fatalf("a policy with a warning matched: %s %q", third.Status, third.AutoApprovalNote)
	}
	f.store.Ent.InstanceSize.UpdateOneID(f.dedicated.ID).SetEnabled(true).ExecX(f.ctx)
	fourth, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.size, 100))
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Status != approvalticket.StatusAPPROVED || *fourth.DecidedByPolicyVersion != 2 {
		t.Fatalf("version 2 after the fix: %s", fourth.Status)
	}
}
