package systems_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestAnonymousIsSentToSignIn(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	anon := signIn(t, env, "")
	shop := systemID(t, env, "shop").String()
	for _, p := range []string{"/systems", "/systems/new", "/systems/check-name?name=x", "/systems/" + shop,
		"/systems/" + shop + "/edit", "/systems/" + shop + "/members", "/systems/" + shop + "/members/search?q=a",
		"/services/new", "/services/check-name?name=x", "/services/" + shop, "/services/" + shop + "/edit"} {
		status, _, resp := env.Get(t, anon.c, p)
		if status != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("%s: %d %s", p, status, resp.Header.Get("Location"))
		}
	}
	// Unsafe methods without a session token fail the CSRF check before anything else.
	for _, p := range []string{"/systems/new", "/systems/" + shop + "/delete", "/markdown/preview", "/services/new"} {
		status, _, _ := env.PostForm(t, anon.c, p, url.Values{"name": {"x"}})
		if status != http.StatusForbidden {
			t.Errorf("POST %s: %d", p, status)
		}
	}
}

func TestSystemsListShowsOnlyVisibleSystems(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	victor, carol, dana := signIn(t, env, "victor"), signIn(t, env, "carol"), signIn(t, env, "dana")

	status, body := victor.get("/systems")
	wantStatus(t, "victor list", status, http.StatusOK, body)
	wantIn(t, "victor list", body, `data-system="shop"`, "viewer", "storefront, cart and checkout")
	wantNotIn(t, "victor list", body, `data-system="payments"`, `data-testid="new-system"`)

	status, body = carol.get("/systems")
	wantStatus(t, "carol list", status, http.StatusOK, body)
	wantIn(t, "carol list", body, `data-system="shop"`, `data-system="payments"`, "not a member", `data-testid="new-system"`)

	_, body = dana.get("/systems?q=PAY")
	wantIn(t, "search", body, `data-system="payments"`)
	wantNotIn(t, "search", body, `data-system="shop"`)

	// Paging keeps the filter in its links.
	_, body = dana.get("/systems?q=p&per_page=1")
	wantIn(t, "paging", body, "1–1 of 2", `href="/systems?page=2&amp;per_page=1&amp;q=p"`)
	_, body = dana.get("/systems?q=p&per_page=1&page=2")
	wantIn(t, "page 2", body, `data-system="shop"`)
}

func TestCreateSystem(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := t.Context()
	dana, victor, alice := signIn(t, env, "dana"), signIn(t, env, "victor"), signIn(t, env, "alice")

	status, body := dana.get("/systems/new")
	wantStatus(t, "form", status, http.StatusOK, body)
	wantIn(t, "form", body, `hx-get="/systems/check-name"`, `hx-post="/markdown/preview"`, `enctype="multipart/form-data"`)

	// Live name checks answer the help fragment.
	checks := map[string]string{
		"abc":              "3/15",
		"abcdefghijklm":    "NAME_LENGTH_WARNING",
		"abcdefghijklmnop": "NAME_TOO_LONG",
		"Bad_Name":         "NAMESPACE_NAME_INVALID",
		"shop":             "NAME_TAKEN",
	}
	for name, want := range checks {
		status, body := dana.htmx("/systems/check-name?name=" + url.QueryEscape(name))
		wantStatus(t, "check "+name, status, http.StatusOK, body)
		wantIn(t, "check "+name, body, `id="f-name-help"`, want)
	}
	if status, _ := victor.htmx("/systems/check-name?name=abc"); status != http.StatusForbidden {
		t.Fatalf("viewer name check: %d", status)
	}

	// A refused form comes back with 422, the errors and the input kept.
	status, body, _ = dana.post("/systems/new", url.Values{"name": {"shop"}, "description": {"keep *me*"}})
	wantStatus(t, "duplicate", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "duplicate", body, "NAME_TAKEN", `value="shop"`, "keep *me*")
	status, body, _ = dana.post("/systems/new", url.Values{"name": {"abcdefghijklmnop"}})
	wantStatus(t, "too long", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "too long", body, "NAME_TOO_LONG")

	// Markdown with a script is stored as typed but rendered sanitized.
	desc := "Hello **team**\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))"
	status, body, loc := dana.post("/systems/new", url.Values{"name": {"observability"}, "description": {desc}})
	wantStatus(t, "create", status, http.StatusSeeOther, body)
	s := env.App.Store.Ent.System.Query().Where(system.Name("observability")).OnlyX(ctx)
	if loc != "/systems/"+s.ID.String() {
		t.Fatalf("redirect to %s", loc)
	}
	status, body = dana.get(loc)
	wantStatus(t, "new system page", status, http.StatusOK, body)
	wantIn(t, "new system page", body, "System observability created", "NAME_LENGTH_WARNING", "<strong>team</strong>", `data-testid="my-role">owner`)
	wantNotIn(t, "new system page", body, "<script>alert", "javascript:alert")
	if n := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("system.create"), auditlog.ResourceID(s.ID.String())).CountX(ctx); n != 1 {
		t.Fatalf("%d system.create rows", n)
	}

	// The preview renders the same sanitized HTML.
	status, body, _ = dana.post("/markdown/preview", url.Values{"description": {desc}})
	wantStatus(t, "preview", status, http.StatusOK, body)
	wantIn(t, "preview", body, "<strong>team</strong>")
	wantNotIn(t, "preview", body, "<script", "javascript:")

	// Without system:write: 403, and nothing written.
	before := env.App.Store.Ent.System.Query().CountX(ctx)
	if status, _ := victor.get("/systems/new"); status != http.StatusForbidden {
		t.Fatalf("victor form: %d", status)
	}
	if status, _, _ := alice.post("/systems/new", url.Values{"name": {"alices"}}); status != http.StatusForbidden {
		t.Fatalf("alice create: %d", status)
	}
	// A POST without the CSRF token is refused too.
	status, _, _ = env.PostForm(t, dana.c, "/systems/new", url.Values{"name": {"nocsrf"}})
	if status != http.StatusForbidden {
		t.Fatalf("CSRF-less create: %d", status)
	}
	if n := env.App.Store.Ent.System.Query().CountX(ctx); n != before {
		t.Fatalf("refused creates wrote %d rows", n-before)
	}
}

func TestSystemPageAccess(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	shop, payments := "/systems/"+systemID(t, env, "shop").String(), "/systems/"+systemID(t, env, "payments").String()
	victor, alice, dana, carol := signIn(t, env, "victor"), signIn(t, env, "alice"), signIn(t, env, "dana"), signIn(t, env, "carol")

	status, body := victor.get(shop)
	wantStatus(t, "victor shop", status, http.StatusOK, body)
	wantIn(t, "victor shop", body, "<strong>web shop</strong>", `data-testid="members-summary"`, "Dana Lead")
	wantNotIn(t, "victor shop", body, `data-testid="edit-system"`, `data-testid="danger-zone"`, `data-testid="new-service"`, `data-testid="manage-members"`)
	for _, p := range []string{payments, payments + "/edit", payments + "/members", "/systems/not-a-uuid", "/systems/00000000-0000-0000-0000-000000000000"} {
		if status, _ := victor.get(p); status != http.StatusNotFound {
			t.Errorf("victor %s: %d, want 404", p, status)
		}
	}
	for _, p := range []string{shop + "/edit", shop + "/members"} {
		if status, _ := victor.get(p); status != http.StatusForbidden {
			t.Errorf("victor %s: %d, want 403", p, status)
		}
	}
	if status, _, _ := victor.post(shop+"/edit", url.Values{"description": {"hacked"}}); status != http.StatusForbidden {
		t.Errorf("victor edit POST: %d", status)
	}
	if status, _, _ := victor.post(payments+"/delete", url.Values{"confirm_name": {"payments"}}); status != http.StatusNotFound {
		t.Errorf("victor delete of invisible: %d", status)
	}

	_, body = alice.get(shop)
	wantNotIn(t, "alice shop", body, `data-testid="danger-zone"`, `data-testid="edit-system"`)
	if status, _, _ := alice.post(shop+"/delete", url.Values{"confirm_name": {"shop"}}); status != http.StatusForbidden {
		t.Errorf("alice delete: %d", status)
	}
	if status, _ := alice.get(shop + "/members"); status != http.StatusForbidden {
		t.Errorf("alice members: %d", status)
	}

	_, body = dana.get(shop)
	wantIn(t, "dana shop", body, `data-testid="edit-system"`, `data-testid="danger-zone"`, `data-testid="new-service"`, `data-testid="manage-members"`)
	status, body = carol.get(payments)
	wantStatus(t, "carol payments", status, http.StatusOK, body)
	wantIn(t, "carol payments", body, `data-testid="danger-zone"`, `data-testid="edit-system"`)

	// Editing the description is audited and appears in the History tab.
	status, body = dana.get(shop + "/edit")
	wantStatus(t, "edit form", status, http.StatusOK, body)
	wantIn(t, "edit form", body, "storefront, cart and checkout")
	status, body, loc := dana.post(shop+"/edit", url.Values{"description": {"Now with <b>bold</b> and <img src=x onerror=alert(1)>"}})
	wantStatus(t, "edit", status, http.StatusSeeOther, body)
	_, body = dana.get(loc)
	// goldmark drops raw HTML; the sanitizer would remove what slipped through.
	wantIn(t, "after edit", body, "Description of shop saved", "Now with")
	wantNotIn(t, "after edit", body, "onerror")
	status, body = victor.get(shop + "?tab=history")
	wantStatus(t, "history", status, http.StatusOK, body)
	wantIn(t, "history", body, `data-testid="history"`, `data-action="system.update"`, "Description edited", "dana")
	wantNotIn(t, "history", body, `data-testid="services-table"`)
	if status, _ := victor.get(payments + "?tab=history"); status != http.StatusNotFound {
		t.Errorf("history of invisible System: %d", status)
	}
}

func TestDeleteSystem(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := t.Context()
	dana := signIn(t, env, "dana")
	_, _, loc := dana.post("/systems/new", url.Values{"name": {"scratch"}})
	if !strings.HasPrefix(loc, "/systems/") {
		t.Fatalf("create: %s", loc)
	}
	status, body, _ := dana.post(loc+"/delete", url.Values{"confirm_name": {"scratc"}})
	wantStatus(t, "mismatch", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "mismatch", body, "CONFIRMATION_NAME_MISMATCH", `data-testid="delete-error"`, `value="scratc"`, "<details class=\"card danger-zone\" open")

	id := strings.TrimPrefix(loc, "/systems/")
	status, body, _ = dana.post("/services/new", url.Values{"system": {id}, "name": {"api"}})
	wantStatus(t, "service", status, http.StatusSeeOther, body)
	status, body, _ = dana.post(loc+"/delete", url.Values{"confirm_name": {"scratch"}})
	wantStatus(t, "restricted", status, http.StatusConflict, body)
	wantIn(t, "restricted", body, "DELETE_RESTRICTED", "1 service")

	status, body, _ = dana.post("/services/"+serviceID(t, env, "scratch", "api").String()+"/delete", url.Values{"confirm": {"true"}})
	wantStatus(t, "service delete", status, http.StatusSeeOther, body)
	status, body, to := dana.post(loc+"/delete", url.Values{"confirm_name": {"scratch"}})
	wantStatus(t, "delete", status, http.StatusSeeOther, body)
	if to != "/systems" {
		t.Fatalf("redirect %s", to)
	}
	_, body = dana.get("/systems")
	wantIn(t, "list after delete", body, "System scratch deleted")
	wantNotIn(t, "list after delete", body, `data-system="scratch"`)
	if status, _ := dana.get(loc); status != http.StatusNotFound {
		t.Fatalf("deleted System page: %d", status)
	}
	if n := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("system.delete"), auditlog.ResourceID(id)).CountX(ctx); n != 1 {
		t.Fatalf("%d system.delete rows", n)
	}
}
