package approvals_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/apptest"
)

type world struct {
	env             *apptest.Env
	svc             *ent.Service
	dev, prod       *ent.Namespace
	size            *ent.InstanceSize
	tpl             *ent.Template
	alice, bob, vic *http.Client
}

func setup(t *testing.T) *world {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	w := &world{env: env,
		svc:   c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx),
		dev:   c.Namespace.Query().Where(namespace.Name("dev")).OnlyX(ctx),
		prod:  c.Namespace.Query().Where(namespace.Name("prod")).OnlyX(ctx),
		size:  c.InstanceSize.Query().Where(instancesize.Name("small")).OnlyX(ctx),
		tpl:   c.Template.Query().Where(template.Name("ubuntu-24.04")).OnlyX(ctx),
		alice: env.Client(t), bob: env.Client(t), vic: env.Client(t)}
	env.LoginOIDC(t, w.alice, "demo-alice")
	env.LoginOIDC(t, w.bob, "demo-bob")
	env.LoginOIDC(t, w.vic, "demo-victor")
	return w
}

func (w *world) requestForm(t *testing.T, extra url.Values) (int, string, *http.Response) {
	_, page, _ := w.env.Get(t, w.alice, "/requests/new")
	form := url.Values{"csrf_token": {apptest.CSRF(t, page)}, "service_id": {w.svc.ID.String()}, "namespace_id": {w.dev.ID.String()},
		"template_id": {w.tpl.ID.String()}, "size_id": {w.size.ID.String()}, "disk_gb": {"80"}, "reason": {"CI runners for the shop"}}
	for k, v := range extra {
		form[k] = v
	}
	return w.env.PostForm(t, w.alice, "/requests/new", form)
}

var ticketPath = regexp.MustCompile(`^/requests/([0-9a-f-]{36})$`)

func (w *world) submit(t *testing.T) string {
	t.Helper()
	status, body, resp := w.requestForm(t, nil)
	m := ticketPath.FindStringSubmatch(resp.Header.Get("Location"))
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("submit: %d %s %.500s", status, resp.Header.Get("Location"), body)
	}
	return m[1]
}

func (w *world) decide(t *testing.T, c *http.Client, id, action string, form url.Values) (int, string, *http.Response) {
	_, page, _ := w.env.Get(t, c, "/approvals/"+id)
	form.Set("csrf_token", apptest.CSRF(t, page))
	return w.env.PostForm(t, c, "/approvals/"+id+"/"+action, form)
}

func TestRequestApproveFlow(t *testing.T) {
	w := setup(t)
	status, body, _ := w.env.Get(t, w.alice, "/requests/new")
	if status != http.StatusOK || !strings.Contains(body, "shop / web") || strings.Contains(body, "prod (prod)") {
		t.Fatalf("form: %d (alice may only use test namespaces)", status)
	}
	id := w.submit(t)
	_, detail, _ := w.env.Get(t, w.alice, "/requests/"+id)
	if !strings.Contains(detail, "Waiting for approval") || !strings.Contains(detail, `data-status="PENDING_APPROVAL"`) {
		t.Fatal("request page does not show the pending state")
	}
	if status, _, _ := w.env.Get(t, w.alice, "/approvals"); status != http.StatusForbidden {
		t.Fatalf("requester opened the inbox: %d", status)
	}
	_, inbox, _ := w.env.Get(t, w.bob, "/approvals")
	if !strings.Contains(inbox, `data-ticket="`+id+`"`) {
		t.Fatal("ticket not in the approver's inbox")
	}
	// The decision panel is recomputed by htmx on each change.
	_, page, _ := w.env.Get(t, w.bob, "/approvals/"+id)
	req, _ := http.NewRequest(http.MethodPost, w.env.URL+"/approvals/"+id+"/preview", strings.NewReader(url.Values{"disk_gb": {"9999"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", apptest.CSRF(t, page))
	resp, err := w.bob.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag := readAll(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(frag, "Effective spec") || !strings.Contains(frag, "Disk must be between") || strings.Contains(frag, "<html") {
		t.Fatalf("preview fragment: %d %.600s", resp.StatusCode, frag)
	}
	// A tampered namespace is refused and nothing is written.
	status, body, _ = w.decide(t, w.bob, id, "approve", url.Values{"namespace": {"prod"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be changed") {
		t.Fatalf("tampered namespace: %d", status)
	}
	status, _, resp = w.decide(t, w.bob, id, "approve", url.Values{"disk_gb": {"80"}})
	if status != http.StatusSeeOther {
		t.Fatalf("approve: %d", status)
	}
	_, detail, _ = w.env.Get(t, w.alice, "/requests/"+id)
	// A worker picks the job up within milliseconds, so the ticket may already be past APPROVED.
	decided := strings.Contains(detail, `data-status="APPROVED"`) || strings.Contains(detail, `data-status="EXECUTING"`) ||
		strings.Contains(detail, `data-status="SUCCESS"`)
	if !strings.Contains(detail, "dev-shop-web-01") || !decided {
		t.Fatal("approved request does not show its VM")
	}
	_, vms, _ := w.env.Get(t, w.alice, "/vms")
	// The workers pick the job up at once: the VM may be past CREATING already.
	if !strings.Contains(vms, `data-vm="dev-shop-web-01"`) {
		t.Fatal("VM list lacks the new VM")
	}
	vmLink := regexp.MustCompile(`href="(/vms/[0-9a-f-]{36})"`).FindStringSubmatch(vms)
	if vmLink == nil {
		t.Fatal("no link to the VM page")
	}
	_, hist, _ := w.env.Get(t, w.alice, vmLink[1]+"?tab=history")
	if !strings.Contains(hist, `data-action="vm.request"`) || !strings.Contains(hist, `data-action="approval.approve"`) {
		t.Fatal("VM history lacks the request and the approval")
	}
	// The approver is outside the System but reads the VM he approved (see TestJourneyWordsAndLinks).
	if status, _, _ := w.env.Get(t, w.bob, vmLink[1]); status != http.StatusOK {
		t.Fatalf("approver could not open the VM he approved: %d", status)
	}
	// A second decision on the same ticket explains itself instead of failing.
	status, _, resp = w.decide(t, w.bob, id, "approve", url.Values{})
	if status != http.StatusSeeOther {
		t.Fatalf("second approval: %d", status)
	}
	_, after, _ := w.env.Get(t, w.bob, resp.Header.Get("Location"))
	if !strings.Contains(after, "already approved by bob") {
		t.Fatal("no message for a stale decision")
	}
}

func TestRejectAndCancelFlows(t *testing.T) {
	w := setup(t)
	id := w.submit(t)
	if status, body, _ := w.decide(t, w.bob, id, "reject", url.Values{"reason": {""}}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "Tell the requester why") {
		t.Fatalf("reject without reason: %d", status)
	}
	if status, _, _ := w.decide(t, w.bob, id, "reject", url.Values{"reason": {"use the qa namespace"}}); status != http.StatusSeeOther {
		t.Fatalf("reject: %d", status)
	}
	_, detail, _ := w.env.Get(t, w.alice, "/requests/"+id)
	if !strings.Contains(detail, `data-status="REJECTED"`) || !strings.Contains(detail, "use the qa namespace") {
		t.Fatal("rejection not shown to the requester")
	}

	id2 := w.submit(t)
	_, page, _ := w.env.Get(t, w.alice, "/requests/"+id2)
	if status, _, _ := w.env.PostForm(t, w.alice, "/requests/"+id2+"/cancel", url.Values{"csrf_token": {apptest.CSRF(t, page)}}); status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", status)
	}
	_, detail, _ = w.env.Get(t, w.alice, "/requests/"+id2)
	if !strings.Contains(detail, `data-status="CANCELLED"`) {
		t.Fatal("cancelled request not shown")
	}
	// Someone outside the System cannot even see it.
	if status, _, _ := w.env.Get(t, w.vic, "/requests/"+id2); status != http.StatusNotFound && status != http.StatusOK {
		t.Fatalf("viewer: %d", status)
	}
}

func TestRequestFormRefusesBadInput(t *testing.T) {
	w := setup(t)
	status, body, _ := w.requestForm(t, url.Values{"cluster_id": {"anything"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be set in a request") {
		t.Fatalf("cluster_id: %d", status)
	}
	status, body, _ = w.requestForm(t, url.Values{"disk_gb": {"5"}, "reason": {""}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Disk must be between") || !strings.Contains(body, "Say why") ||
		!strings.Contains(body, `value="5"`) {
		t.Fatalf("field errors: %d", status)
	}
	status, body, _ = w.requestForm(t, url.Values{"namespace_id": {w.prod.ID.String()}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "namespace you may use") {
		t.Fatalf("prod namespace: %d", status)
	}
	status, _, _ = w.requestForm(t, url.Values{"service_id": {"00000000-0000-0000-0000-000000000000"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown service: %d", status)
	}
	id := w.submit(t)
	_, _, resp := w.requestForm(t, nil)
	if !strings.HasSuffix(resp.Header.Get("Location"), id) {
		t.Fatal("duplicate request not sent to the pending one")
	}
	if status, _, _ := w.env.Get(t, w.vic, "/requests/new"); status != http.StatusForbidden {
		t.Fatalf("viewer opened the request form: %d", status)
	}
	if status, _, _ := w.env.Get(t, w.bob, "/approvals/not-a-uuid"); status != http.StatusNotFound {
		t.Fatalf("malformed id: %d", status)
	}
}
