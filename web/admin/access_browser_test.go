package admin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	entuser "kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth"
)

// signInAs signs a demo user in through the development issuer.
func signInAs(url, who string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible(css(`[data-testid="sso-login"]`)),
		chromedp.Click(css(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(css(`[data-testid="pick-` + who + `"]`)),
		chromedp.Click(css(`[data-testid="pick-` + who + `"]`)),
		chromedp.WaitVisible(css(`[data-testid="capabilities"]`)),
	}
}

// TestAccessAdministrationInTheBrowser: carol (platform admin) composes a custom role,
// grants it to victor in prod, then disables victor; victor's open browser lands on the
// sign-in page with the disabled message on its next request.
func TestAccessAdministrationInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent

	victorTab := browser(t)
	runVictor := steps(t, victorTab)
	runVictor("victor signs in", signInAs(env.URL, "victor")...)

	bctx := browser(t)
	run := steps(t, bctx)
	run("carol signs in", signInCarol(env.URL)...)

	run("compose a custom role",
		chromedp.Navigate(env.URL+"/admin/roles/new"),
		chromedp.WaitVisible(css(`#f-name`)),
		chromedp.Click(css(`[data-testid="save-role"]`)),
		chromedp.WaitVisible(css(`[data-testid="error-summary"]`)))
	summary, err := chromedp.Run(bctx, chromedp.Text(css(`[data-testid="error-summary"]`)))
	if err != nil || !strings.Contains(summary, "Enter a name") || !strings.Contains(summary, "at least one permission") {
		t.Fatalf("empty role form summary %q %v", summary, err)
	}
	run("fill the role",
		chromedp.SetValue(css(`#f-name`), "Release manager"),
		chromedp.SetValue(css(`#f-description`), "Restarts VMs in production during releases."),
		chromedp.Click(css(`[data-permission="vm:read"]`)),
		chromedp.Click(css(`[data-permission="vm:operate"]`)),
		chromedp.Click(css(`[data-permission="system:read"]`)))
	shot(t, bctx, "50-role-form-1280")
	run("save the role",
		chromedp.Click(css(`[data-testid="save-role"]`)),
		chromedp.WaitVisible(css(`[data-testid="custom-roles"]`)))
	shot(t, bctx, "51-roles-1280")
	rm := c.Role.Query().Where(role.Name("Release manager")).WithPermissions().OnlyX(ctx)
	if len(rm.Edges.Permissions) != 3 || rm.IsBuiltin {
		t.Fatalf("saved role: %d permissions, builtin %v", len(rm.Edges.Permissions), rm.IsBuiltin)
	}

	victor := c.User.Query().Where(entuser.Username("victor")).OnlyX(ctx)
	run("find victor",
		chromedp.Navigate(env.URL+"/admin/users?q=VICT"),
		chromedp.WaitVisible(css(`[data-testid="users"]`)),
		chromedp.Click(css(`[data-row="victor"] a`)),
		chromedp.WaitVisible(css(`[data-testid="grant-form"]`)))
	run("grant the role in prod",
		chromedp.SetValue(css(`#f-role`), rm.ID.String()),
		chromedp.Click(css(`[data-testid="grant-test"]`)), // on by default: prod only
		chromedp.Click(css(`[data-testid="grant-prod"]`)),
		chromedp.Click(css(`[data-testid="grant-role"]`)),
		chromedp.WaitVisible(css(`[data-testid="bindings"] [data-row="Release manager"]`)))
	b := c.RoleBinding.Query().Where(rolebinding.UserID(victor.ID), rolebinding.RoleID(rm.ID)).OnlyX(ctx)
	if b.Source != rolebinding.SourceManual || len(b.AllowedEnvironments) != 1 || b.AllowedEnvironments[0] != "prod" {
		t.Fatalf("binding: %s %v", b.Source, b.AllowedEnvironments)
	}
	// Victor's next request sees the new role (the principal cache follows authz_version).
	runVictor("victor's permissions", chromedp.Navigate(env.URL+"/me/permissions"), chromedp.WaitVisible(css(`main`)))
	perms, err := chromedp.Run(victorTab, chromedp.Text(css(`main`)))
	if err != nil || !strings.Contains(perms, "Release manager") {
		t.Errorf("victor's permissions page does not show the new role: %v\n%s", err, perms)
	}
	shot(t, bctx, "52-user-1280")
	run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(css(`[data-testid="grant-form"]`)))
	shot(t, bctx, "53-user-390")
	fitsPhone(t, bctx, "a user's page")

	run("disable victor",
		chromedp.Click(css(`[data-testid="disable-user"]`)),
		chromedp.WaitVisible(css(`[data-testid="enable-user"]`)))
	if !c.User.GetX(ctx, victor.ID).Disabled {
		t.Fatal("victor is not disabled")
	}
	shot(t, bctx, "54-user-disabled-390")
	fitsPhone(t, bctx, "a disabled user's page")

	runVictor("victor's next click", chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(css(`#flash-area .flash`)))
	loc, err := chromedp.Run(victorTab, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(victorTab, chromedp.Text(css(`#flash-area .flash`)))
	if err != nil || !strings.Contains(flash, auth.DisabledMessage) || !strings.Contains(loc, "/login") {
		t.Fatalf("victor at %s sees %q (%v); want the sign-in page with %q", loc, flash, err, auth.DisabledMessage)
	}
	shot(t, victorTab, "55-signed-out-disabled")

	run("users list at phone width", chromedp.Navigate(env.URL+"/admin/users"), chromedp.WaitVisible(css(`[data-testid="users"]`)))
	shot(t, bctx, "56-users-390")
	fitsPhone(t, bctx, "the users page")
	run("roles at phone width", chromedp.Navigate(env.URL+"/admin/roles"), chromedp.WaitVisible(css(`[data-testid="custom-roles"]`)))
	shot(t, bctx, "57-roles-390")
	fitsPhone(t, bctx, "the roles page")
	run("role form at phone width", chromedp.Navigate(env.URL+"/admin/roles/"+rm.ID.String()+"/edit"), chromedp.WaitVisible(css(`#f-name`)))
	shot(t, bctx, "58-role-form-390")
	fitsPhone(t, bctx, "the role form")
	run("the role in use cannot be deleted",
		chromedp.Navigate(env.URL+"/admin/roles"),
		chromedp.WaitVisible(css(`[data-testid="delete-Release manager"]`)),
		chromedp.Click(css(`[data-testid="delete-Release manager"]`)),
		chromedp.WaitVisible(css(`#flash-area .flash`)))
	flash, err = chromedp.Run(bctx, chromedp.Text(css(`#flash-area .flash`)))
	if err != nil || !strings.Contains(flash, "1 user hold") {
		t.Errorf("deleting a role in use: %q %v", flash, err)
	}
}
