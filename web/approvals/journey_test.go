package approvals_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/vm"
)

var (
	// A status, type or error code: PENDING_APPROVAL, VM_CREATE, DUPLICATE_PENDING_REQUEST.
	rawCode = regexp.MustCompile(`\b[A-Z]+_[A-Z_]+\b`)
	// Markup: tags with their attributes (codes may stay in title and data- attributes),
	// scripts and styles.
	markup = regexp.MustCompile(`(?is)<script.*?</script>|<style.*?</style>|<[^>]*>`)
)

// noCodes fails when the visible text of a page shows a raw code.
func noCodes(t *testing.T, name, body string) {
	t.Helper()
	text := html.UnescapeString(markup.ReplaceAllString(body, " "))
	if codes := rawCode.FindAllString(text, -1); len(codes) > 0 {
		t.Errorf("%s shows raw codes %v", name, codes)
	}
}

func wantIn(t *testing.T, name, body string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(body, s) {
			t.Errorf("%s lacks %q", name, s)
		}
	}
}

// TestJourneyWordsAndLinks walks the request → approval → VM journey: the pages speak in
// words, not codes, and every name leads somewhere (issue 10, parts 2 and 3).
func TestJourneyWordsAndLinks(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	c := w.env.App.Store.Ent
	qa := c.Namespace.Query().Where(namespace.Name("qa")).OnlyX(ctx)
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	inQA := url.Values{"namespace_id": {qa.ID.String()}}

	id := w.submit(t)
	status, body, resp := w.requestForm(t, inQA)
	m := ticketPath.FindStringSubmatch(resp.Header.Get("Location"))
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("second request: %d %.300s", status, body)
	}
	id2 := m[1]

	// Dashboards: the approver sees what waits for him, the member can request and open
	// her Systems.
	_, dash, _ := w.env.Get(t, w.bob, "/")
	wantIn(t, "approver dashboard", dash, `data-testid="waiting-count">2 requests<`, `href="/approvals/`+id+`"`, `href="/approvals"`)
	noCodes(t, "approver dashboard", dash)
	_, dash, _ = w.env.Get(t, w.alice, "/")
	wantIn(t, "member dashboard", dash, `data-testid="dashboard-request-vm"`, `href="/systems/`+shop.ID.String()+`"`)
	noCodes(t, "member dashboard", dash)

	// A waiting request, the inbox and "My requests" (with its filter) in words.
	_, detail, _ := w.env.Get(t, w.alice, "/requests/"+id)
	wantIn(t, "pending request", detail, "Waiting for approval", `data-status="PENDING_APPROVAL"`, `href="/services/`+w.svc.ID.String()+`"`)
	noCodes(t, "pending request", detail)
	_, inbox, _ := w.env.Get(t, w.bob, "/approvals")
	wantIn(t, "inbox", inbox, `href="/approvals/`+id+`"`, "New VM")
	noCodes(t, "inbox", inbox)
	_, mine, _ := w.env.Get(t, w.alice, "/requests")
	wantIn(t, "my requests", mine, `<option value="PENDING_APPROVAL">Waiting for approval</option>`)
	noCodes(t, "my requests", mine)

	// "Approve and open next" lands on the next waiting request.
	status, _, resp = w.decide(t, w.bob, id, "approve", url.Values{"disk_gb": {"80"}, "next": {"1"}})
	if loc := resp.Header.Get("Location"); status != http.StatusSeeOther || loc != "/approvals/"+id2 {
		t.Fatalf("approve and open next: %d → %q, want /approvals/%s", status, loc, id2)
	}
	// The decided one says when and after how long, and leads on.
	_, decided, _ := w.env.Get(t, w.bob, "/approvals/"+id)
	wantIn(t, "decided approval page", decided, `data-testid="decided-after"`, "already been decided", `data-testid="next-waiting"`, `href="/approvals/`+id2+`"`)
	if strings.Contains(decided, "<dt>Waiting</dt>") {
		t.Error("a decided request still says how long it waits")
	}
	noCodes(t, "decided approval page", decided)

	// Request ↔ VM, both ways.
	vmID := c.ApprovalTicket.GetX(ctx, uuid.MustParse(id)).VMID
	if vmID == nil {
		t.Fatal("approved ticket without VM")
	}
	vmPath := "/vms/" + vmID.String()
	_, detail, _ = w.env.Get(t, w.alice, "/requests/"+id)
	wantIn(t, "approved request", detail, `href="`+vmPath+`" data-testid="request-vm"`)
	noCodes(t, "approved request", detail)
	_, vmPage, _ := w.env.Get(t, w.alice, vmPath)
	wantIn(t, "VM page", vmPage, `data-testid="vm-requests"`, `href="/requests/`+id+`" data-testid="vm-request"`, "Status checked")
	noCodes(t, "VM page", vmPage)
	_, list, _ := w.env.Get(t, w.alice, "/vms")
	wantIn(t, "VM list", list, `href="`+vmPath+`"`)
	noCodes(t, "VM list", list)
	_, svc, _ := w.env.Get(t, w.alice, "/services/"+w.svc.ID.String())
	wantIn(t, "service page", svc, `href="`+vmPath+`" data-testid="service-vm"`)

	// The approver reads the VM he decided, and no other VM of the System.
	if status, page, _ := w.env.Get(t, w.bob, vmPath); status != http.StatusOK || strings.Contains(page, `data-testid="power-form"`) {
		t.Fatalf("approver on the VM he approved: %d (and no power buttons)", status)
	}
	_, detail, _ = w.env.Get(t, w.bob, "/requests/"+id)
	wantIn(t, "approver's request page", detail, `href="`+vmPath+`"`)
	other := c.VM.Create().SetName("dev-shop-web-98").SetServiceID(w.svc.ID).SetSystemID(shop.ID).SetNamespaceID(w.dev.ID).
		SetNamespaceName(w.dev.Name).SetEnvironment(vm.EnvironmentTest).SetClusterID(c.Cluster.Query().FirstIDX(ctx)).
		SetInstanceIndex(98).SetInstanceSizeID(w.size.ID).SetTemplateID(w.tpl.ID).SetTicketID(uuid.New()).
		SetCreatedBy(shop.ID).SaveX(ctx)
	for _, p := range []string{"/vms/" + other.ID.String(), "/vms/" + other.ID.String() + "/status"} {
		if status, _, _ := w.env.Get(t, w.bob, p); status != http.StatusNotFound {
			t.Errorf("approver opened %s of a VM he did not decide: %d", p, status)
		}
	}

	// Audit rows link what they concern while it exists.
	carol := w.env.Client(t)
	w.env.LoginOIDC(t, carol, "demo-carol")
	_, auditPage, _ := w.env.Get(t, carol, "/admin/audit?resource_type=ticket&resource_id="+id)
	wantIn(t, "audit of the ticket", auditPage, `href="/requests/`+id+`" class="small" data-testid="audit-open"`)

	// Rejecting the last waiting request leads back to the inbox.
	status, _, resp = w.decide(t, w.bob, id2, "reject", url.Values{"reason": {"use dev"}})
	if loc := resp.Header.Get("Location"); status != http.StatusSeeOther || loc != "/approvals" {
		t.Fatalf("reject the last one: %d → %q", status, loc)
	}
	if _, dash, _ = w.env.Get(t, w.bob, "/"); !strings.Contains(dash, "Nothing waits for you") {
		t.Error("approver dashboard still shows waiting requests")
	}
	if n := c.ApprovalTicket.Query().Where(approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).CountX(ctx); n != 0 {
		t.Fatalf("%d tickets still pending", n)
	}

	// A duplicate request is explained in words, not with its code.
	w.submit(t)
	_, _, resp = w.requestForm(t, nil)
	_, again, _ := w.env.Get(t, w.alice, resp.Header.Get("Location"))
	wantIn(t, "duplicate flash", again, "same request waiting for approval")
	noCodes(t, "duplicate flash", again)
}
