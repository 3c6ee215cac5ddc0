package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/identityprovider"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/idpseengroup"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/devoidc"
	"kv-shepherd.io/shepherd/web"
)

// walkOP goes through a devoidc provider's authorize page as sub, from the start URL
// (the redirect to the provider), and returns the callback URL without following it.
func walkOP(t *testing.T, env *apptest.Env, c *http.Client, startPath, sub string) string {
	t.Helper()
	status, _, resp := env.Get(t, c, startPath)
	if status != http.StatusFound {
		t.Fatalf("%s: status %d", startPath, status)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	form := authorize.Query()
	form.Set("user", sub)
	post := *authorize
	post.RawQuery = ""
	status, body, resp := env.PostForm(t, c, post.String(), form)
	if status != http.StatusFound {
		t.Fatalf("authorize at %s: status %d: %s", post.String(), status, body)
	}
	return resp.Header.Get("Location")
}

// A provider added in the portal signs people in through its own button and start route;
// a code from another provider is never accepted for its sign-in, and disabling it stops
// its sign-ins at once.
func TestPortalProviderSignInIsKeptApart(t *testing.T) {
	var opURL string
	var inner http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	opURL = srv.URL + "/acme"
	env := apptest.Start(t, func(cfg *config.Config) {
		iss, err := devoidc.New(devoidc.Options{
			Issuer: opURL,
			Clients: []devoidc.Client{{
				ID:           "acme-client",
				Secret:       "acme-secret",
				RedirectURIs: []string{cfg.BaseURL + web.OIDCCallbackPath},
			}},
			Users: []devoidc.User{{Sub: "alice", Username: "erin", Name: "Erin Acme", Email: "erin@acme.example", Groups: []string{"/acme/approvers", "staff"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		inner = http.StripPrefix("/acme", iss.Handler())
	})
	ctx := context.Background()
	db := env.App.Store.Ent

	admin := env.Client(t)
	env.LoginOIDC(t, admin, "demo-carol")
	_, page, _ := env.Get(t, admin, "/admin/identity-providers/new")
	status, body, _ := env.PostForm(t, admin, "/admin/identity-providers", url.Values{
		"csrf_token":    {apptest.CSRF(t, page)},
		"key":           {"acme"},
		"label":         {"Acme SSO"},
		"issuer":        {opURL},
		"client_id":     {"acme-client"},
		"client_secret": {"acme-secret"},
		"scopes":        {"profile email"},
		"groups_claim":  {"groups"},
	})
	if status != http.StatusSeeOther {
		t.Fatalf("add provider: %d %.2000s", status, body)
	}
	_, login, _ := env.Get(t, env.Client(t), "/login")
	if !strings.Contains(login, `href="/auth/idp/acme/start?next=%2F"`) || !strings.Contains(login, "Sign in with Acme SSO") {
		t.Fatalf("sign-in page lacks the provider's button:\n%.3000s", login)
	}

	// A code the development issuer issued, brought to a sign-in Acme started: refused.
	a := env.Client(t)
	acmeCallback := walkOP(t, env, a, "/auth/idp/acme/start", "alice")
	devCallback := env.OIDCCallback(t, env.Client(t), "demo-alice")
	ac, _ := url.Parse(acmeCallback)
	dc, _ := url.Parse(devCallback)
	crossed := web.OIDCCallbackPath + "?state=" + url.QueryEscape(ac.Query().Get("state")) + "&code=" + url.QueryEscape(dc.Query().Get("code"))
	status, body, _ = env.Get(t, a, crossed)
	if status == http.StatusSeeOther || status < 400 {
		t.Fatalf("another provider's code was accepted: %d %.1000s", status, body)
	}
	if db.User.Query().Where(user.Username("erin")).ExistX(ctx) {
		t.Fatal("a user was created from the crossed sign-in")
	}

	// The real Acme sign-in works: the user is stored under Acme's issuer, its groups seen.
	b := env.Client(t)
	status, body, _ = env.Get(t, b, walkOP(t, env, b, "/auth/idp/acme/start", "alice"))
	if status != http.StatusSeeOther {
		t.Fatalf("acme sign-in: %d %.1500s", status, body)
	}
	erin := db.User.Query().Where(user.Username("erin")).OnlyX(ctx)
	if erin.Issuer == nil || *erin.Issuer != opURL {
		t.Fatalf("erin's issuer %v", erin.Issuer)
	}
	if n := db.IdPSeenGroup.Query().Where(idpseengroup.Provider("acme")).CountX(ctx); n != 2 {
		t.Fatalf("groups seen for acme: %d", n)
	}
	if n := db.IdPSeenGroup.Query().Where(idpseengroup.Provider("default"), idpseengroup.GroupName("staff")).CountX(ctx); n != 0 {
		t.Fatal("acme's groups recorded for the default provider")
	}

	// Disabled: no button, its start and its callbacks refused.
	_, page, _ = env.Get(t, admin, "/admin/identity-providers/acme")
	status, _, _ = env.PostForm(t, admin, "/admin/identity-providers/acme/disable", url.Values{"csrf_token": {apptest.CSRF(t, page)}})
	if status != http.StatusSeeOther {
		t.Fatalf("disable: %d", status)
	}
	if db.IdentityProvider.Query().Where(identityprovider.Key("acme")).OnlyX(ctx).Enabled {
		t.Fatal("still enabled")
	}
	if _, login, _ = env.Get(t, env.Client(t), "/login"); strings.Contains(login, "Acme SSO") {
		t.Fatal("a disabled provider is offered")
	}
	if status, _, _ = env.Get(t, env.Client(t), "/auth/idp/acme/start"); status != http.StatusNotFound {
		t.Fatalf("start through a disabled provider: %d", status)
	}
	if n := db.AuditLog.Query().Where(auditlog.ActionIn("idp.configure", "idp.update")).CountX(ctx); n != 2 {
		t.Fatalf("provider changes audited: %d", n)
	}
}

// Two admins edit the same mapping: the second save, made from the page as it was, is
// refused in words and nothing of it is saved; a mapping to a deleted role shows broken.
func TestMappingGridStaleEditAndBrokenRole(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	db := env.App.Store.Ent
	admin := env.Client(t)
	env.LoginOIDC(t, admin, "demo-carol")
	m := db.IdPGroupMapping.Query().Where(idpgroupmapping.Provider("default"), idpgroupmapping.GroupName("shepherd-approvers")).OnlyX(ctx)
	_, page, _ := env.Get(t, admin, "/admin/identity-providers/default")
	csrf := apptest.CSRF(t, page)
	edit := func(group string) (int, string) {
		status, body, _ := env.PostForm(t, admin, "/admin/identity-providers/default/mappings/"+m.ID.String(), url.Values{
			"csrf_token":   {csrf},
			"version":      {strconv.Itoa(m.Version)},
			"group":        {group},
			"role":         {m.RoleID.String()},
			"environments": {"test"},
		})
		return status, body
	}
	if status, body := edit("shepherd-approvers"); status != http.StatusSeeOther {
		t.Fatalf("first edit: %d %.1500s", status, body)
	}
	status, body := edit("renamed-by-the-second-admin")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Someone else changed this mapping") || !strings.Contains(body, `class="error-summary"`) {
		t.Fatalf("second edit: %d %.3000s", status, body)
	}
	if got := db.IdPGroupMapping.GetX(ctx, m.ID); got.GroupName != "shepherd-approvers" {
		t.Fatalf("the refused edit was saved: %+v", got)
	}
	// A mapping to a role that no longer exists.
	gone := db.Role.Create().SetName("Retired").SaveX(ctx)
	db.IdPGroupMapping.Create().SetProvider("default").SetGroupName("old-team").SetRoleID(gone.ID).ExecX(ctx)
	db.Role.DeleteOne(gone).ExecX(ctx)
	_, page, _ = env.Get(t, admin, "/admin/identity-providers/default")
	if !strings.Contains(page, "Broken: its role no longer exists") {
		t.Fatalf("broken mapping not shown:\n%.4000s", page)
	}
	if n := db.AuditLog.Query().Where(auditlog.Action("idp.mapping_update")).CountX(ctx); n != 1 {
		t.Fatalf("mapping updates audited: %d", n)
	}
}

// The grid maps a group to a System membership too: System and membership role together
// or neither (refused with the error summary), the row shows the System chosen, and a
// deleted System shows the row broken.
func TestMappingGridSystemMembership(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	db := env.App.Store.Ent
	admin := env.Client(t)
	env.LoginOIDC(t, admin, "demo-carol")
	viewer := db.Role.Query().Where(role.Name("Viewer")).OnlyX(ctx)
	sys := db.System.Create().SetName("ledger").SaveX(ctx)
	_, page, _ := env.Get(t, admin, "/admin/identity-providers/default")
	csrf := apptest.CSRF(t, page)
	if !strings.Contains(page, `<option value="`+sys.ID.String()+`"`) || !strings.Contains(page, ">No System</option>") {
		t.Fatalf("System select missing:\n%.4000s", page)
	}
	add := func(system, memberRole string) (int, string) {
		status, body, _ := env.PostForm(t, admin, "/admin/identity-providers/default/mappings", url.Values{
			"csrf_token":   {csrf},
			"group":        {"ledger-team"},
			"role":         {viewer.ID.String()},
			"environments": {"test"},
			"system":       {system},
			"member_role":  {memberRole},
		})
		return status, body
	}
	status, body := add(sys.ID.String(), "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error-summary"`) ||
		!strings.Contains(body, "Choose the membership role for the System") {
		t.Fatalf("System without a role: %d %.3000s", status, body)
	}
	if db.IdPGroupMapping.Query().Where(idpgroupmapping.GroupName("ledger-team")).ExistX(ctx) {
		t.Fatal("refused mapping saved")
	}
	if status, body := add(sys.ID.String(), "admin"); status != http.StatusSeeOther {
		t.Fatalf("add: %d %.3000s", status, body)
	}
	m := db.IdPGroupMapping.Query().Where(idpgroupmapping.GroupName("ledger-team")).OnlyX(ctx)
	if m.SystemID == nil || *m.SystemID != sys.ID || m.MemberRole == nil || string(*m.MemberRole) != "admin" {
		t.Fatalf("saved: %+v", m)
	}
	_, page, _ = env.Get(t, admin, "/admin/identity-providers/default")
	if !strings.Contains(page, `<option value="`+sys.ID.String()+`" selected>ledger</option>`) ||
		!strings.Contains(page, `<option value="admin" selected>Admin</option>`) {
		t.Fatalf("row does not show the membership:\n%.6000s", page)
	}
	db.System.UpdateOne(sys).SetDeletedAt(time.Now()).ExecX(ctx)
	_, page, _ = env.Get(t, admin, "/admin/identity-providers/default")
	if !strings.Contains(page, "Broken: its System no longer exists") {
		t.Fatalf("deleted System not shown broken:\n%.6000s", page)
	}
}
