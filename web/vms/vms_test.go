package vms_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

type world struct {
	env                    *apptest.Env
	svc                    *ent.Service
	alice, bob, dana, vic  *http.Client
	dev, prod, size, templ string
}

// setup runs the app with slow simulated clusters (operations stay in flight long
// enough to be seen) and signs the demo users in.
func setup(t *testing.T) *world {
	env := apptest.Start(t, func(c *config.Config) { c.SimStepDelay = 1500 * time.Millisecond })
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	w := &world{env: env, svc: c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx),
		dev:   c.Namespace.Query().Where(namespace.Name("dev")).OnlyIDX(ctx).String(),
		prod:  c.Namespace.Query().Where(namespace.Name("prod")).OnlyIDX(ctx).String(),
		size:  c.InstanceSize.Query().Where(instancesize.Name("small")).OnlyIDX(ctx).String(),
		templ: c.Template.Query().Where(template.Name("ubuntu-24.04")).OnlyIDX(ctx).String(),
		alice: env.Client(t), bob: env.Client(t), dana: env.Client(t), vic: env.Client(t)}
	for c, sub := range map[*http.Client]string{w.alice: "demo-alice", w.bob: "demo-bob", w.dana: "demo-dana", w.vic: "demo-victor"} {
		env.LoginOIDC(t, c, sub)
	}
	return w
}

var requestPath = regexp.MustCompile(`^/requests/([0-9a-f-]{36})$`)

// post sends a form from the page at from (for its CSRF token).
func (w *world) post(t *testing.T, c *http.Client, from, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	_, page, _ := w.env.Get(t, c, from)
	form.Set("csrf_token", apptest.CSRF(t, page))
	return w.env.PostForm(t, c, path, form)
}

// running has who request a VM in namespace ns, bob approve it, and waits until the
// workers report it RUNNING.
func (w *world) running(t *testing.T, who *http.Client, ns string) *ent.VM {
	t.Helper()
	return w.approved(t, who, ns, vm.StatusRUNNING)
}

// approved has who request a VM in ns and bob approve it; it waits for status.
func (w *world) approved(t *testing.T, who *http.Client, ns string, status vm.Status) *ent.VM {
	t.Helper()
	code, body, resp := w.post(t, who, "/requests/new", "/requests/new", url.Values{"service_id": {w.svc.ID.String()}, "namespace_id": {ns},
		"template_id": {w.templ}, "size_id": {w.size}, "disk_gb": {"80"}, "reason": {"tests"}})
	m := requestPath.FindStringSubmatch(resp.Header.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("request: %d %.300s", code, body)
	}
	if status, body, _ := w.post(t, w.bob, "/approvals/"+m[1], "/approvals/"+m[1]+"/approve", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("approve: %d %.500s", status, body)
	}
	tk := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.IDEQ(uuid.MustParse(m[1]))).OnlyX(context.Background())
	return w.waitStatus(t, *tk.VMID, status)
}

// waitStatus waits until the VM has status want and no operation of it is still running
// (a VM seen Running is shown RUNNING a moment before its worker closes the ticket, and
// no other operation may start until it has).
func (w *world) waitStatus(t *testing.T, id uuid.UUID, want vm.Status) *ent.VM {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := w.env.App.Store.Ent.VM.GetX(context.Background(), id)
		busy := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.VMID(id),
			approvalticket.StatusIn(approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).ExistX(context.Background())
		if v.Status == want && !busy {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("VM %s is %s (%s), want %s", v.Name, v.Status, v.StatusMessage, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPowerOperationsOnTheVMPage(t *testing.T) {
	w := setup(t)
	v := w.running(t, w.alice, w.dev)
	page := "/vms/" + v.ID.String()
	_, body, _ := w.env.Get(t, w.alice, page)
	for _, want := range []string{`data-testid="power-stop"`, `data-testid="power-restart"`, `data-polling="false"`, "no approval needed"} {
		if !strings.Contains(body, want) {
			t.Errorf("running VM page lacks %s", want)
		}
	}
	for _, bad := range []string{`data-testid="power-start"`, `data-testid="delete-zone"`, `hx-trigger="every 2s"`} {
		if strings.Contains(body, bad) {
			t.Errorf("running VM page has %s", bad)
		}
	}
	if _, body, _ := w.env.Get(t, w.vic, page); strings.Contains(body, `data-testid="power-form"`) {
		t.Error("a viewer is offered power actions")
	}
	_, frag, _ := w.env.Get(t, w.alice, page+"/status")
	// The block is re-fetched on push (data-live, static/js/live.js), never on a timer.
	if !strings.Contains(frag, `hx-swap-oob="true"`) || strings.Contains(frag, "<html") || strings.Contains(frag, "every ") ||
		!strings.Contains(frag, `data-live="vm:`+v.ID.String()+`"`) || !strings.Contains(frag, `hx-trigger="shepherd-live"`) {
		t.Fatalf("settled status fragment: %.400s", frag)
	}

	// The fragment is versioned: fetched again unchanged, it is 204 (live.js swaps nothing).
	vreq, _ := http.NewRequest(http.MethodGet, w.env.URL+page+"/status", nil)
	resp0, err := w.alice.Do(vreq)
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	version := resp0.Header.Get("X-Live-Version")
	vreq.Header.Set("X-Live-Version", version)
	if resp1, err := w.alice.Do(vreq); err != nil || version == "" || resp1.StatusCode != http.StatusNoContent {
		t.Fatalf("unchanged fragment with version %q: %v %v", version, err, resp1)
	}

	// Stop runs at once in test; while it is in flight the fragment says so (and still does not poll).
	status, _, resp := w.post(t, w.alice, page, page+"/power", url.Values{"op": {"stop"}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("stop: %d %s", status, resp.Header.Get("Location"))
	}
	_, frag, _ = w.env.Get(t, w.alice, page+"/status")
	if strings.Contains(frag, "every ") || !strings.Contains(frag, `data-polling="true"`) || !strings.Contains(frag, `data-testid="actions-busy"`) {
		t.Fatalf("in-flight fragment: %.600s", frag)
	}
	status, body, _ = w.post(t, w.alice, page, page+"/power", url.Values{"op": {"restart"}})
	if status != http.StatusUnprocessableEntity || !(strings.Contains(body, "still running") || strings.Contains(body, "cannot be restarted")) {
		t.Fatalf("second operation in flight: %d", status)
	}
	w.waitStatus(t, v.ID, vm.StatusSTOPPED)
	status, body, _ = w.post(t, w.alice, page, page+"/power", url.Values{"op": {"restart"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be restarted while it is STOPPED") {
		t.Fatalf("restart of a stopped VM: %d", status)
	}
	_, frag, _ = w.env.Get(t, w.alice, page+"/status")
	if strings.Contains(frag, "every ") || !strings.Contains(frag, `data-testid="power-start"`) || !strings.Contains(frag, `data-step-state="done"`) {
		t.Fatalf("stopped fragment: %.600s", frag)
	}
	// The request page of the stop shows the auto-approval and the steps.
	stop := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.TypeEQ(approvalticket.TypeVM_STOP)).OnlyX(context.Background())
	_, req, _ := w.env.Get(t, w.alice, "/requests/"+stop.ID.String())
	for _, want := range []string{"Approved automatically", "Sent to the cluster", `data-polling="false"`} {
		if !strings.Contains(req, want) {
			t.Errorf("stop request page lacks %s", want)
		}
	}
	if status, frag, _ := w.env.Get(t, w.alice, "/requests/"+stop.ID.String()+"/status"); status != http.StatusOK || !strings.Contains(frag, `id="request-live"`) {
		t.Fatalf("request status fragment: %d", status)
	}
	if status, rows, _ := w.env.Get(t, w.alice, "/vms/rows"); status != http.StatusOK || !strings.Contains(rows, `id="vm-rows"`) || strings.Contains(rows, "every ") ||
		!strings.Contains(rows, `data-live="vm:`+v.ID.String()) {
		t.Fatalf("list rows fragment: %d %.300s", status, rows)
	}
}

func TestDeleteAndProdOperationsNeedApproval(t *testing.T) {
	w := setup(t)
	v := w.running(t, w.dana, w.dev)
	page := "/vms/" + v.ID.String()
	if status, _, _ := w.post(t, w.alice, page, page+"/delete", url.Values{"confirm": {"1"}, "delete_reason": {"x"}}); status != http.StatusForbidden {
		t.Fatalf("a member deleting: %d", status)
	}
	status, body, _ := w.post(t, w.dana, page, page+"/delete", url.Values{"delete_reason": {"no longer needed"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Tick the box") || !strings.Contains(body, "no longer needed") {
		t.Fatalf("delete without confirmation: %d", status)
	}
	if status, _, _ := w.post(t, w.dana, page, page+"/delete", url.Values{"confirm": {"1"}, "delete_reason": {"no longer needed"}}); status != http.StatusSeeOther {
		t.Fatalf("delete request: %d", status)
	}
	del := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.TypeEQ(approvalticket.TypeVM_DELETE)).OnlyX(context.Background())
	_, body, _ = w.env.Get(t, w.dana, page)
	if !strings.Contains(body, `data-testid="pending-op"`) || !strings.Contains(body, "waits for an approver") {
		t.Fatal("VM page does not show the pending deletion")
	}
	_, ap, _ := w.env.Get(t, w.bob, "/approvals/"+del.ID.String())
	if !strings.Contains(ap, `data-testid="operation-request"`) || !strings.Contains(ap, "sim-test-a") || !strings.Contains(ap, `data-status="RUNNING"`) {
		t.Fatalf("approval page of a delete: %.300s", ap)
	}
	if status, _, _ := w.post(t, w.bob, "/approvals/"+del.ID.String(), "/approvals/"+del.ID.String()+"/approve", url.Values{"comment": {"fine"}}); status != http.StatusSeeOther {
		t.Fatalf("approve delete: %d", status)
	}
	w.waitStatus(t, v.ID, vm.StatusDELETED)
	if _, body, _ := w.env.Get(t, w.dana, page); !strings.Contains(body, `data-status="DELETED"`) || strings.Contains(body, `data-testid="power-form"`) {
		t.Fatal("deleted VM page")
	}

	// Production: a reason and the typed name are required, and stop waits for bob.
	p := w.running(t, w.dana, w.prod)
	page = "/vms/" + p.ID.String()
	_, body, _ = w.env.Get(t, w.dana, page)
	if !strings.Contains(body, "Request stop (needs approval)") || !strings.Contains(body, `data-testid="delete-name"`) {
		t.Fatal("prod VM page lacks approval wording or the typed-name confirmation")
	}
	if status, body, _ := w.post(t, w.dana, page, page+"/power", url.Values{"op": {"stop"}}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "Say why") {
		t.Fatalf("prod stop without a reason: %d", status)
	}
	status, body, _ = w.post(t, w.dana, page, page+"/delete", url.Values{"confirm_name": {"prod-shop-web-99"}, "delete_reason": {"x"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "does not match") || !strings.Contains(body, "CONFIRMATION_NAME_MISMATCH") {
		t.Fatalf("prod delete with a wrong name: %d", status)
	}
	if status, _, _ := w.post(t, w.dana, page, page+"/power", url.Values{"op": {"stop"}, "reason": {"maintenance"}}); status != http.StatusSeeOther {
		t.Fatalf("prod stop: %d", status)
	}
	if status, body, _ := w.post(t, w.dana, page, page+"/power", url.Values{"op": {"stop"}, "reason": {"again"}}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "already waiting") {
		t.Fatalf("duplicate prod stop: %d", status)
	}
	stop := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.TypeEQ(approvalticket.TypeVM_STOP)).OnlyX(context.Background())
	if stop.Status != approvalticket.StatusPENDING_APPROVAL || w.env.App.Store.Ent.VM.GetX(context.Background(), p.ID).Status != vm.StatusRUNNING {
		t.Fatalf("prod stop ran without approval: %s", stop.Status)
	}
	if status, _, _ := w.post(t, w.bob, "/approvals/"+stop.ID.String(), "/approvals/"+stop.ID.String()+"/approve", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("approve prod stop: %d", status)
	}
	w.waitStatus(t, p.ID, vm.StatusSTOPPED)
}

func TestFailedStepShowsTheReasonAndWhatAnAdminCanDo(t *testing.T) {
	w := setup(t)
	w.env.App.Clusters.Sim(context.Background(), "sim-test-a").FailNext(sim.OpEnsureNamespace,
		kube.NewPermanent(kube.CodeNamespacePermissionDenied, "namespaces is forbidden: cannot create namespaces"))
	v := w.approved(t, w.alice, w.dev, vm.StatusFAILED)
	_, body, _ := w.env.Get(t, w.alice, "/vms/"+v.ID.String())
	for _, want := range []string{`data-testid="op-error"`, "NAMESPACE_PERMISSION_DENIED", "kubectl create namespace dev",
		"namespaces:create", `data-step-state="failed"`, `data-polling="false"`} {
		if !strings.Contains(body, want) {
			t.Errorf("failed VM page lacks %s", want)
		}
	}
	_, req, _ := w.env.Get(t, w.alice, "/requests/"+v.TicketID.String())
	if !strings.Contains(req, `data-testid="step-hint"`) || !strings.Contains(req, "kubectl create namespace dev") {
		t.Error("failed request page lacks the admin hint")
	}
}
