package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/apptest"
)

var adminPages = []string{"/admin", "/admin/namespaces", "/admin/namespaces/new", "/admin/clusters", "/admin/clusters/new",
	"/admin/sizes", "/admin/sizes/new", "/admin/templates", "/admin/templates/new"}

func TestNonAdminsAreRefused(t *testing.T) {
	env := apptest.Start(t)
	for _, sub := range []string{"demo-alice", "demo-bob", "demo-victor", "demo-dana"} {
		u := signIn(t, env, sub)
		for _, path := range adminPages {
			if status, body := u.get(t, path); status != http.StatusForbidden || !strings.Contains(body, "Not allowed") {
				t.Errorf("%s GET %s: %d", sub, path, status)
			}
		}
		// With a valid CSRF token the permission check still refuses, and nothing is created.
		status, _, _ := u.post(t, "/admin/namespaces", url.Values{"name": {"sneaky"}, "environment": {"test"}})
		if status != http.StatusForbidden {
			t.Errorf("%s POST namespace: %d", sub, status)
		}
		status, _, _ = u.post(t, "/admin/templates", url.Values{"name": {"sneaky"}, "source_type": {"containerdisk"}, "image": {"x"}})
		if status != http.StatusForbidden {
			t.Errorf("%s POST template: %d", sub, status)
		}
	}
	if n := env.App.Store.Ent.Namespace.Query().CountX(t.Context()); n != 3 {
		t.Errorf("%d namespaces after refused posts, want the 3 seeded", n)
	}
	// The navigation offers Admin to carol only.
	_, body := signIn(t, env, "demo-alice").get(t, "/")
	if strings.Contains(body, `data-nav="admin"`) {
		t.Error("alice sees the Admin link")
	}
}

func TestAdminHomeShowsCatalogueCards(t *testing.T) {
	env := apptest.Start(t)
	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin")
	if status != http.StatusOK {
		t.Fatalf("/admin: %d", status)
	}
	for _, want := range []string{`data-testid="card-namespaces"`, `data-testid="card-clusters"`, `data-testid="card-sizes"`,
		`data-testid="card-templates"`, "3 enabled", "3 healthy and enabled", "5 enabled", "2 active"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin home lacks %q", want)
		}
	}
	if !strings.Contains(body, `aria-current="page" data-nav="admin"`) {
		t.Error("Admin is not the active navigation item")
	}
}

func TestPostWithoutCSRFIsRefused(t *testing.T) {
	env := apptest.Start(t)
	carol := signIn(t, env, "demo-carol")
	for _, path := range []string{"/admin/namespaces", "/admin/clusters", "/admin/sizes", "/admin/templates"} {
		status, body, _ := env.PostForm(t, carol.c, path, url.Values{"name": {"no-token"}, "environment": {"test"}})
		if status != http.StatusForbidden || !strings.Contains(body, "did not come from Shepherd") {
			t.Errorf("POST %s without token: %d", path, status)
		}
	}
	status, _, _ := env.PostForm(t, carol.c, "/admin/namespaces", url.Values{"csrf_token": {"forged"}, "name": {"no-token"}, "environment": {"test"}})
	if status != http.StatusForbidden {
		t.Errorf("forged token: %d", status)
	}
	if n := env.App.Store.Ent.Namespace.Query().CountX(t.Context()); n != 3 {
		t.Errorf("%d namespaces, want 3", n)
	}
}
