package approvals_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// vmIn writes a running VM of shop/web in ns, as if it had been created and started.
func (w *world) vmIn(t *testing.T, ns *ent.Namespace, name string) *ent.VM {
	t.Helper()
	ctx := context.Background()
	c := w.env.App.Store.Ent
	return c.VM.Create().SetName(name).SetServiceID(w.svc.ID).SetSystemID(w.svc.SystemID).SetNamespaceID(ns.ID).
		SetNamespaceName(ns.Name).SetEnvironment(vm.Environment(ns.Environment)).SetClusterID(c.Cluster.Query().FirstIDX(ctx)).
		SetInstanceIndex(1).SetInstanceSizeID(w.size.ID).SetInstanceSizeName(w.size.Name).SetTemplateID(w.tpl.ID).
		SetTicketID(uuid.New()).SetStatus(vm.StatusRUNNING).SetK8sUID(uuid.NewString()).SetCreatedBy(w.svc.SystemID).SaveX(ctx)
}

// askConsole posts the console page's request form as c.
func (w *world) askConsole(t *testing.T, c *http.Client, v *ent.VM, reason, minutes string) (int, string) {
	t.Helper()
	_, home, _ := w.env.Get(t, c, "/")
	status, _, resp := w.env.PostForm(t, c, "/vms/"+v.ID.String()+"/console/request",
		url.Values{"csrf_token": {apptest.CSRF(t, home)}, "reason": {reason}, "minutes": {minutes}})
	return status, resp.Header.Get("Location")
}

// flashes reads the messages the last redirect left (any page shows them).
func (w *world) flashes(t *testing.T, c *http.Client) string {
	_, body, _ := w.env.Get(t, c, "/me/permissions")
	return body
}

func (w *world) consoleTickets(t *testing.T, v *ent.VM) []*ent.ApprovalTicket {
	return w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(v.ID), approvalticket.TypeEQ(approvalticket.TypeVNC_ACCESS)).
		Order(ent.Asc(approvalticket.FieldCreatedAt)).AllX(context.Background())
}

func TestConsoleAccessRequestGrantFlow(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	dana := w.env.Client(t)
	w.env.LoginOIDC(t, dana, "demo-dana")
	v := w.vmIn(t, w.prod, "prod-shop-web-01")
	console := "/vms/" + v.ID.String() + "/console"

	status, loc := w.askConsole(t, dana, v, "kernel panic after the upgrade", "30")
	if status != http.StatusSeeOther || loc != console {
		t.Fatalf("request: %d %s", status, loc)
	}
	if body := w.flashes(t, dana); !strings.Contains(body, "requested for 30 minutes") {
		t.Fatal("no confirmation after the request")
	}
	// Asking again points at the waiting request instead of adding one.
	if status, loc := w.askConsole(t, dana, v, "again", "60"); status != http.StatusSeeOther || loc != console {
		t.Fatalf("second request: %d %s", status, loc)
	}
	if body := w.flashes(t, dana); !strings.Contains(body, "already waiting for approval") {
		t.Fatal("no word about the waiting request")
	}
	tickets := w.consoleTickets(t, v)
	if len(tickets) != 1 || tickets[0].Status != approvalticket.StatusPENDING_APPROVAL {
		t.Fatalf("tickets: %v", tickets)
	}
	id := tickets[0].ID.String()
	// The console page links to the waiting request instead of offering the form again.
	_, page, _ := w.env.Get(t, dana, console)
	if !strings.Contains(page, `href="/requests/`+id+`"`) || strings.Contains(page, `data-testid="console-request-form"`) {
		t.Errorf("the console page does not point at the waiting request:\n%.2000s", page)
	}

	_, inbox, _ := w.env.Get(t, w.bob, "/approvals")
	if !strings.Contains(inbox, `data-ticket="`+id+`"`) || !strings.Contains(inbox, "Console access") || !strings.Contains(inbox, "for 30 minutes") ||
		strings.Contains(inbox, ">VNC_ACCESS<") {
		t.Fatal("the inbox does not show the console request in words")
	}
	_, review, _ := w.env.Get(t, w.bob, "/approvals/"+id)
	for _, want := range []string{"kernel panic after the upgrade", `href="/vms/` + v.ID.String() + `"`, "prod-shop-web-01",
		`<label for="f-minutes">Grant access for`, `<option value="30" selected>30 minutes (as requested)</option>`, `<option value="120">2 hours</option>`,
		"Grant console access"} {
		if !strings.Contains(review, want) {
			t.Errorf("approval page lacks %q", want)
		}
	}
	// More than two hours is refused by the server whatever the form says.
	status, body, _ := w.decide(t, w.bob, id, "approve", url.Values{"minutes": {"500"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose at most 2 hours.") {
		t.Fatalf("500 minutes: %d", status)
	}
	// dana is no approver; carol asks for herself and cannot approve her own request.
	if status, _, _ := w.decide(t, dana, id, "approve", url.Values{"minutes": {"15"}}); status != http.StatusForbidden {
		t.Fatalf("approval by the requester: %d", status)
	}
	start := time.Now()
	status, _, resp := w.decide(t, w.bob, id, "approve", url.Values{"minutes": {"15"}, "comment": {"short, please"}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/requests/"+id {
		t.Fatalf("approve: %d %s", status, resp.Header.Get("Location"))
	}
	g := w.env.App.Store.Ent.ConsoleGrant.Query().Where(consolegrant.TicketID(tickets[0].ID)).OnlyX(ctx)
	if got := g.ExpiresAt.Sub(g.StartsAt); got != 15*time.Minute || g.GrantedBy != "bob" || g.StartsAt.Before(start.Add(-time.Second)) {
		t.Fatalf("grant: %+v", g)
	}
	if n := w.env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("vnc.grant"), auditlog.ActorName("bob")).CountX(ctx); n != 1 {
		t.Fatalf("vnc.grant audit rows: %d", n)
	}
	_, detail, _ := w.env.Get(t, dana, "/requests/"+id)
	for _, want := range []string{"Console access", "30 minutes", "Console access granted", "until", "(15 minutes)", `href="` + console + `"`, "short, please"} {
		if !strings.Contains(detail, want) {
			t.Errorf("request page lacks %q", want)
		}
	}
	_, mine, _ := w.env.Get(t, dana, "/requests")
	if !strings.Contains(mine, "Console access") || !strings.Contains(mine, "for 30 minutes") {
		t.Error("My requests does not show the console request in words")
	}
	_, hist, _ := w.env.Get(t, dana, "/vms/"+v.ID.String()+"?tab=history")
	if !strings.Contains(hist, "Console access requested") || !strings.Contains(hist, "Console access granted") {
		t.Error("the VM history lacks the console request and grant")
	}
}

func TestConsoleAccessRejectAndRefusals(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	dana, carol := w.env.Client(t), w.env.Client(t)
	w.env.LoginOIDC(t, dana, "demo-dana")
	w.env.LoginOIDC(t, carol, "demo-carol")
	v := w.vmIn(t, w.prod, "prod-shop-web-02")

	w.askConsole(t, dana, v, "look at the boot screen", "")
	id := w.consoleTickets(t, v)[0].ID.String()
	if status, _, _ := w.decide(t, w.bob, id, "reject", url.Values{"reason": {"use the bastion host"}}); status != http.StatusSeeOther {
		t.Fatalf("reject: %d", status)
	}
	if n := w.env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("vnc.deny"), auditlog.ActorName("bob")).CountX(ctx); n != 1 {
		t.Fatalf("vnc.deny audit rows: %d", n)
	}
	_, detail, _ := w.env.Get(t, dana, "/requests/"+id)
	if !strings.Contains(detail, `data-status="REJECTED"`) || !strings.Contains(detail, "use the bastion host") || !strings.Contains(detail, "1 hour") {
		t.Fatal("the rejection is not shown to the requester")
	}

	// Self-approval is refused, as for every request.
	w.askConsole(t, carol, v, "audit", "60")
	own := w.consoleTickets(t, v)[1].ID.String()
	if status, _, _ := w.decide(t, carol, own, "approve", url.Values{"minutes": {"60"}}); status != http.StatusForbidden {
		t.Fatalf("self-approval: %d", status)
	}

	// Test consoles need no request; viewers may not ask; strangers do not see the VM.
	testVM := w.vmIn(t, w.dev, "dev-shop-web-07")
	if status, loc := w.askConsole(t, w.alice, testVM, "debug", "60"); status != http.StatusSeeOther || loc != "/vms/"+testVM.ID.String()+"/console" {
		t.Fatalf("test VM: %d %s", status, loc)
	}
	if body := w.flashes(t, w.alice); !strings.Contains(body, "open without a request") {
		t.Fatal("no explanation for a test VM")
	}
	if status, _ := w.askConsole(t, w.vic, testVM, "debug", "60"); status != http.StatusForbidden {
		t.Fatalf("viewer: %d", status)
	}
	if status, _ := w.askConsole(t, w.alice, v, "debug", "60"); status != http.StatusNotFound {
		t.Fatalf("alice on a prod VM she cannot see: %d", status)
	}
	if status, loc := w.askConsole(t, dana, v, "", "60"); status != http.StatusSeeOther || loc != "/vms/"+v.ID.String()+"/console" {
		t.Fatalf("no reason: %d %s", status, loc)
	}
	if body := w.flashes(t, dana); !strings.Contains(body, "Say why you need the console") {
		t.Fatal("no explanation for a missing reason")
	}
	if n := len(w.consoleTickets(t, testVM)); n != 0 {
		t.Fatalf("%d console tickets for a test VM", n)
	}
}
