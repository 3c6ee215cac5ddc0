package systems_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestServices(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := t.Context()
	shopID, paymentsID := systemID(t, env, "shop"), systemID(t, env, "payments")
	victor, alice, dana, bob := signIn(t, env, "victor"), signIn(t, env, "alice"), signIn(t, env, "dana"), signIn(t, env, "bob")

	// Viewers and Operators lack service:create (spec/flows.md §1.2): 403.
	for _, s := range []*session{victor, alice} {
		if status, _ := s.get("/services/new"); status != http.StatusForbidden {
			t.Fatalf("form without service:create: %d", status)
		}
	}
	if status, _, _ := alice.post("/services/new", url.Values{"system": {shopID.String()}, "name": {"x"}}); status != http.StatusForbidden {
		t.Fatalf("operator create: %d", status)
	}
	// With service:create, a member of shop is offered shop only.
	grant(t, env, "alice", "SystemAdmin")
	status, body := alice.get("/services/new?system=" + shopID.String())
	wantStatus(t, "alice form", status, http.StatusOK, body)
	wantIn(t, "alice form", body, `<option value="`+shopID.String()+`" selected>shop</option>`, `hx-include="[name=system]"`)
	wantNotIn(t, "alice form", body, paymentsID.String())

	// A tampered System id is refused with a message and nothing is written.
	before := env.App.Store.Ent.Service.Query().CountX(ctx)
	status, body, _ = alice.post("/services/new", url.Values{"system": {paymentsID.String()}, "name": {"sneaky"}, "description": {"kept"}})
	wantStatus(t, "tampered", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "tampered", body, "Choose one of the listed Systems", `value="sneaky"`, "kept")
	if n := env.App.Store.Ent.Service.Query().CountX(ctx); n != before {
		t.Fatal("tampered create wrote a row")
	}
	status, body = alice.htmx("/services/check-name?system=" + shopID.String() + "&name=abc")
	wantStatus(t, "check", status, http.StatusOK, body)
	wantIn(t, "check", body, "3/15")

	status, body, loc := alice.post("/services/new", url.Values{"system": {shopID.String()}, "name": {"checkout"}, "description": {"Pays <script>x()</script>"}})
	wantStatus(t, "create", status, http.StatusSeeOther, body)
	svcID := serviceID(t, env, "shop", "checkout")
	if loc != "/services/"+svcID.String() {
		t.Fatalf("redirect %s", loc)
	}
	// The Service page: parent link, description, empty VM table; members cannot edit or delete.
	svc := "/services/" + svcID.String()
	status, body = alice.get(svc)
	wantStatus(t, "service page", status, http.StatusOK, body)
	wantIn(t, "service page", body, "Service checkout created", `href="/systems/`+shopID.String()+`" data-testid="parent-system"`, "No VMs",
		`href="/requests/new?service=`+svcID.String()+`"`)
	wantNotIn(t, "service page", body, "<script>x()", `data-testid="danger-zone"`, `data-testid="edit-service"`)
	status, body, _ = alice.post("/services/new", url.Values{"system": {shopID.String()}, "name": {"checkout"}})
	wantStatus(t, "duplicate", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "duplicate", body, "NAME_TAKEN")
	if status, _, _ := alice.post(svc+"/delete", url.Values{"confirm": {"true"}}); status != http.StatusForbidden {
		t.Fatalf("member delete: %d", status)
	}
	if status, _ := victor.get(svc + "/edit"); status != http.StatusForbidden {
		t.Fatalf("viewer edit: %d", status)
	}
	status, body = victor.get(svc)
	wantStatus(t, "viewer view", status, http.StatusOK, body)
	wantNotIn(t, "viewer view", body, `data-testid="request-vm"`, `data-testid="edit-service"`, `data-testid="danger-zone"`)
	for _, p := range []string{svc, svc + "/edit", svc + "?tab=history", "/services/nope"} {
		if status, _ := bob.get(p); status != http.StatusNotFound {
			t.Fatalf("non-member %s: %d", p, status)
		}
	}

	// VMs are listed newest first; ones that exist block the delete.
	addVM(t, env, svcID, shopID, "shop-checkout-01", vm.StatusRUNNING)
	addVM(t, env, svcID, shopID, "shop-checkout-02", vm.StatusDELETING)
	_, body = dana.get(svc)
	wantIn(t, "vms", body, `data-testid="vms-table"`, `data-vm="shop-checkout-01"`, "RUNNING", "env-test", "small")
	if strings.Index(body, "shop-checkout-02") > strings.Index(body, "shop-checkout-01") {
		t.Fatal("VMs not newest first")
	}
	status, body, _ = dana.post(svc+"/delete", nil)
	wantStatus(t, "no confirm", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "no confirm", body, "CONFIRMATION_REQUIRED")
	status, body, _ = dana.post(svc+"/delete", url.Values{"confirm": {"true"}})
	wantStatus(t, "restricted", status, http.StatusConflict, body)
	wantIn(t, "restricted", body, "DELETE_RESTRICTED", "2 VMs")

	// Description edit by the owner, audited and shown in History.
	status, body, _ = dana.post(svc+"/edit", url.Values{"description": {"Checkout **v2**"}})
	wantStatus(t, "edit", status, http.StatusSeeOther, body)
	_, body = victor.get(svc + "?tab=history")
	wantIn(t, "history", body, `data-action="service.update"`, `data-action="service.create"`)

	env.App.Store.Ent.VM.Update().Where(vm.ServiceID(svcID)).SetStatus(vm.StatusDELETED).ExecX(ctx)
	status, body, loc = dana.post(svc+"/delete", url.Values{"confirm": {"true"}})
	wantStatus(t, "delete", status, http.StatusSeeOther, body)
	if loc != "/systems/"+shopID.String() {
		t.Fatalf("redirect %s", loc)
	}
	if sv := env.App.Store.Ent.Service.Query().Where(service.ID(svcID)).OnlyX(ctx); sv.DeletedAt == nil {
		t.Fatal("not soft-deleted")
	}
	if status, _ := dana.get(svc); status != http.StatusNotFound {
		t.Fatalf("deleted service page: %d", status)
	}
}

func addVM(t *testing.T, env *apptest.Env, svc, system uuid.UUID, name string, status vm.Status) {
	t.Helper()
	env.App.Store.Ent.VM.Create().SetName(name).SetServiceID(svc).SetSystemID(system).
		SetNamespaceID(uuid.New()).SetNamespaceName("team-test").SetEnvironment(vm.EnvironmentTest).SetClusterID(uuid.New()).
		SetInstanceIndex(1).SetInstanceSizeID(uuid.New()).SetInstanceSizeName("small").SetTemplateID(uuid.New()).
		SetTicketID(uuid.New()).SetStatus(status).SetCreatedBy(userID(t, env, "dana")).ExecX(t.Context())
}
