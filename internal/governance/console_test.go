package governance

import (
	"errors"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/domain"
)

// clock pins the service's time so grant expiries can be compared exactly.
func (f *fixture) clock() time.Time {
	now := time.Date(2026, 11, 30, 13, 5, 0, 0, time.UTC)
	f.gov.Now = func() time.Time { return now }
	return now
}

// member adds a user with role in test and prod and the given membership of shop.
func (f *fixture) member(name, roleName string, r systemmember.Role) *ent.User {
	u := f.user(name, roleName, []string{"test", "prod"})
	must(f.store.Ent.SystemMember.Create().SetSystemID(f.svc.SystemID).SetUserID(u.ID).SetRole(r).Save(f.ctx))
	return u
}

func (f *fixture) auditRows(action string) []*ent.AuditLog {
	return must(f.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).All(f.ctx))
}

func TestConsoleRequestInProdWaitsForApproval(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	v := f.vm(f.live, vm.StatusRUNNING)
	tk, err := f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "  kernel panic on boot, need the screen  ", 30)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Type != approvalticket.TypeVNC_ACCESS || tk.Status != approvalticket.StatusPENDING_APPROVAL || tk.VMID == nil || *tk.VMID != v.ID ||
		tk.TargetName != v.Name || tk.Reason != "kernel panic on boot, need the screen" || RequestedMinutes(tk) != 30 || tk.Environment != "prod" {
		t.Fatalf("ticket: %+v", tk)
	}
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID))
	if ev.EventType != domain.EventVNCAccessRequested || ev.Status != domainevent.StatusPENDING || ev.AggregateID != v.ID.String() ||
		ev.Payload["minutes"] != float64(30) || ev.Payload["reason"] != tk.Reason || ev.Payload["vm_name"] != v.Name {
		t.Fatalf("event: %+v", ev)
	}
	rows := f.auditRows("vnc.request")
	if len(rows) != 1 || rows[0].ActorName != "dana" || rows[0].ResourceID != v.ID.String() || rows[0].Details["duration"] != "30 minutes" {
		t.Fatalf("audit: %+v", rows)
	}
	notes := must(f.store.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED)).All(f.ctx))
	// bob, carl and the seeded platform admin approve in prod; the requester is not told.
	if len(notes) != 3 || notes[0].Link != "/approvals/"+tk.ID.String() || notes[0].Title != "Console access request for "+v.Name {
		t.Fatalf("approver notifications: %+v", notes)
	}
	for _, n := range notes {
		if n.RecipientID == dana.User.ID || n.RecipientID == f.alice.ID {
			t.Errorf("notified %s, want the prod approvers only", n.RecipientID)
		}
	}
	pending, err := f.gov.PendingConsoleRequest(f.ctx, f.alice.ID, v.ID)
	if err != nil || pending != nil {
		t.Fatalf("another user's pending request: %v %v", pending, err)
	}
	pending, err = f.gov.PendingConsoleRequest(f.ctx, dana.User.ID, v.ID)
	if err != nil || pending == nil || pending.ID != tk.ID {
		t.Fatalf("pending request: %v %v", pending, err)
	}
	// Console requests are a person's, not operations on the VM.
	latest, waiting, err := f.gov.VMOperations(f.ctx, v)
	if err != nil || latest != nil || len(waiting) != 0 {
		t.Fatalf("VM operations list the console request: %v %v %v", latest, waiting, err)
	}
}

func TestConsoleRequestRefusals(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	prodVM := f.vm(f.live, vm.StatusRUNNING)
	viewer := f.who(f.member("vera", "Viewer", systemmember.RoleViewer))
	cases := []struct {
		name    string
		who     Requester
		vm      *ent.VM
		reason  string
		minutes int
		code    string
	}{
		{"test VMs need no request", dana, f.vm(f.dev, vm.StatusRUNNING), "why", 60, domain.CodeEnvironmentMismatch},
		{"invisible VM", f.who(f.alice), prodVM, "why", 60, domain.CodeNotFound},
		{"no vnc:access", viewer, prodVM, "why", 60, domain.CodeForbidden},
		{"reason required", dana, prodVM, "  ", 60, domain.CodeInvalidInput},
		{"over two hours", dana, prodVM, "why", 121, domain.CodeInvalidInput},
		{"negative", dana, prodVM, "why", -5, domain.CodeInvalidInput},
		{"VM being deleted", dana, f.vm(f.live, vm.StatusDELETING), "why", 60, domain.CodeVMStateConflict},
	}
	for _, c := range cases {
		if _, err := f.gov.RequestConsoleAccess(f.ctx, c.who, c.vm.ID, c.reason, c.minutes); code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := f.gov.RequestConsoleAccess(f.ctx, f.who(f.alice), prodVM.ID, "why", 60); !errors.Is(err, ErrVMNotFound) {
		t.Errorf("an invisible VM: %v, want ErrVMNotFound", err)
	}
	if n := f.count("approval_tickets") + f.count("domain_events") + f.count("notifications"); n != 0 {
		t.Fatalf("a refused request wrote %d rows", n)
	}
	tk, err := f.gov.RequestConsoleAccess(f.ctx, dana, prodVM.ID, "why", 0)
	if err != nil || RequestedMinutes(tk) != DefaultConsoleMinutes {
		t.Fatalf("no duration given: %v %v, want the default", tk, err)
	}
}

func TestConsoleRequestIsOnePendingPerPerson(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	erin := f.who(f.member("erin", "SystemAdmin", systemmember.RoleAdmin))
	v := f.vm(f.live, vm.StatusRUNNING)
	first, err := f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "debug", 60)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "again", 30)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeDuplicatePending || de.Params["ticket_id"] != first.ID.String() {
		t.Fatalf("second request: %v", err)
	}
	// Someone else may wait for the same console, and operations on the VM are unaffected.
	if _, err := f.gov.RequestConsoleAccess(f.ctx, erin, v.ID, "me too", 60); err != nil {
		t.Fatalf("another person's request: %v", err)
	}
	if _, err := f.gov.RequestPower(f.ctx, dana, v.ID, "stop", "maintenance"); err != nil {
		t.Fatalf("a stop request next to console requests: %v", err)
	}
	// The index has the last word when two requests race past the check.
	ev := must(f.store.Ent.DomainEvent.Get(f.ctx, first.EventID))
	_, err = f.store.Ent.ApprovalTicket.Create().SetType(approvalticket.TypeVNC_ACCESS).SetEventID(ev.ID).SetRequesterID(dana.User.ID).
		SetReason("race").SetSystemID(v.SystemID).SetServiceID(v.ServiceID).SetNamespaceID(v.NamespaceID).SetNamespaceName(v.NamespaceName).
		SetEnvironment("prod").SetVMID(v.ID).Save(f.ctx)
	if code(consoleIndexConflict(err, v)) != domain.CodeDuplicatePending {
		t.Fatalf("index: %v", err)
	}
}

func TestConsoleApprovalGrantsAccessForTheChosenTime(t *testing.T) {
	f := newFixture(t)
	now := f.clock()
	dana := f.who(f.dana())
	bob := f.who(f.bob)
	v := f.vm(f.live, vm.StatusRUNNING)
	tk := must(f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "debug", 120))

	if _, err := f.gov.ApproveConsoleAccess(f.ctx, bob, tk.ID, 180, ""); code(err) != domain.CodeInvalidInput {
		t.Fatalf("three hours: %v", err)
	}
	if n := f.count("console_grants"); n != 0 {
		t.Fatalf("a refused approval wrote %d grants", n)
	}
	g, err := f.gov.ApproveConsoleAccess(f.ctx, bob, tk.ID, 30, "keep it short")
	if err != nil {
		t.Fatal(err)
	}
	if g.UserID != dana.User.ID || g.VMID != v.ID || g.TicketID != tk.ID || g.GrantedBy != "bob" ||
		!g.StartsAt.Equal(now) || !g.ExpiresAt.Equal(now.Add(30*time.Minute)) || g.RevokedAt != nil {
		t.Fatalf("grant: %+v", g)
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	if tk.Status != approvalticket.StatusSUCCESS || tk.ApproverName != "bob" || tk.DecisionReason != "keep it short" || tk.ExecutedAt == nil ||
		len(tk.Steps) != 1 || tk.Steps[0].Message != "until 13:35 UTC (30 minutes)" {
		t.Fatalf("ticket: %+v", tk)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID)); ev.Status != domainevent.StatusCOMPLETED || ev.ProcessedAt == nil {
		t.Fatalf("event: %+v", ev)
	}
	rows := f.auditRows("vnc.grant")
	if len(rows) != 1 || rows[0].ActorName != "bob" || rows[0].Details["minutes"] != float64(30) ||
		rows[0].Details["expires_at"] != "2026-11-30T13:35:00Z" || rows[0].Details["user"] != "dana" {
		t.Fatalf("audit: %+v", rows)
	}
	note := must(f.store.Ent.Notification.Query().Where(notification.RecipientID(dana.User.ID), notification.TypeEQ(notification.TypeREQUEST_APPROVED)).Only(f.ctx))
	if note.Link != "/vms/"+v.ID.String()+"/console" || note.Body != "bob granted you console access to "+v.Name+" until 13:35 UTC (30 minutes)." {
		t.Fatalf("notification: %+v", note)
	}
	if f.count("river_job") != 0 {
		t.Fatal("a console grant enqueued a job")
	}
	// The console now opens for dana, and only until the grant ends.
	access := &console.Access{Store: f.store, Now: func() time.Time { return now.Add(time.Minute) }}
	st, err := access.State(f.ctx, console.Viewer{UserID: dana.User.ID, Username: "dana", Principal: dana.Principal}, v.ID)
	if err != nil || !st.CanOpen || st.Grant == nil || st.Grant.ID != g.ID || !st.EndsAt.Equal(g.ExpiresAt) {
		t.Fatalf("console state after the grant: %+v %v", st, err)
	}
	if _, err := f.gov.ApproveConsoleAccess(f.ctx, f.who(f.carl), tk.ID, 30, ""); code(err) != domain.CodeStaleTicket {
		t.Fatalf("second approval: %v", err)
	}
	// Without a chosen duration the requested one is granted.
	tk2 := must(f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "more", 120))
	g2 := must(f.gov.ApproveConsoleAccess(f.ctx, bob, tk2.ID, 0, ""))
	if !g2.ExpiresAt.Equal(now.Add(2 * time.Hour)) {
		t.Fatalf("default duration: %v", g2.ExpiresAt)
	}
	if latest, _, err := f.gov.VMOperations(f.ctx, v); err != nil || latest != nil {
		t.Fatalf("a console grant became the VM's last operation: %v %v", latest, err)
	}
}

func TestConsoleRejectionAndSelfApproval(t *testing.T) {
	f := newFixture(t)
	dana := f.who(f.dana())
	v := f.vm(f.live, vm.StatusRUNNING)
	tk := must(f.gov.RequestConsoleAccess(f.ctx, dana, v.ID, "debug", 60))
	if err := f.gov.Reject(f.ctx, f.who(f.carl), tk.ID, "use the bastion host"); err != nil {
		t.Fatal(err)
	}
	tk = must(f.store.Ent.ApprovalTicket.Get(f.ctx, tk.ID))
	if tk.Status != approvalticket.StatusREJECTED || tk.DecisionReason != "use the bastion host" || tk.ApproverName != "carl" {
		t.Fatalf("ticket: %+v", tk)
	}
	if rows := f.auditRows("vnc.deny"); len(rows) != 1 || rows[0].ActorName != "carl" || rows[0].Details["reason"] != "use the bastion host" {
		t.Fatalf("audit: %+v", rows)
	}
	if ev := must(f.store.Ent.DomainEvent.Get(f.ctx, tk.EventID)); ev.Status != domainevent.StatusCANCELLED {
		t.Fatalf("event: %s", ev.Status)
	}
	note := must(f.store.Ent.Notification.Query().Where(notification.RecipientID(dana.User.ID)).Only(f.ctx))
	if note.Title != "Console access denied: "+v.Name {
		t.Fatalf("notification: %+v", note)
	}

	// A platform admin may ask and approve, but never their own request.
	root := f.who(f.user("root", "PlatformAdmin", []string{"test", "prod"}))
	own := must(f.gov.RequestConsoleAccess(f.ctx, root, v.ID, "look", 30))
	if _, err := f.gov.ApproveConsoleAccess(f.ctx, root, own.ID, 30, ""); code(err) != domain.CodeSelfApproval {
		t.Fatalf("self-approval: %v", err)
	}
	if len(f.auditRows("approval.self_approve_refused")) != 1 {
		t.Fatal("the refused self-approval was not audited")
	}
	if n := must(f.store.Ent.ConsoleGrant.Query().Where(consolegrant.TicketID(own.ID)).Count(f.ctx)); n != 0 {
		t.Fatal("a self-approval wrote a grant")
	}
	if _, err := f.gov.ApproveConsoleAccess(f.ctx, f.who(f.alice), own.ID, 30, ""); code(err) != domain.CodeNotFound {
		t.Fatalf("approval by a non-approver: %v", err)
	}
	if _, err := f.gov.ApproveConsoleAccess(f.ctx, f.who(f.bob), own.ID, 30, ""); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleDurationInWords(t *testing.T) {
	for m, want := range map[int]string{1: "1 minute", 15: "15 minutes", 60: "1 hour", 90: "1 hour 30 minutes", 120: "2 hours", 121: "2 hours 1 minute"} {
		if got := ConsoleDuration(m); got != want {
			t.Errorf("ConsoleDuration(%d) = %q, want %q", m, got, want)
		}
	}
}
