package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	entuser "kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/seed"
)

// A local account from creation to disabling, over HTTP: the one-time password is shown
// once and forces a change, disabling ends the open session with the disabled message
// and refuses the next sign-in with it; the last platform admin is protected.
func TestLocalAccountLifecycle(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	c := env.App.Store.Ent
	carol := signIn(t, env, "demo-carol")

	status, body, _ := carol.post(t, "/admin/users", url.Values{"username": {"Nina Smith"}, "email": {"not-an-address"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) ||
		fieldError(body, "username") == "" || fieldError(body, "email") == "" {
		t.Fatalf("invalid form: %d\n%s", status, errorsIn(body))
	}
	status, body, _ = carol.post(t, "/admin/users", url.Values{"username": {"nina"}, "display_name": {"Nina Smith"}})
	if status != http.StatusOK {
		t.Fatalf("create: %d\n%s", status, errorsIn(body))
	}
	m := regexp.MustCompile(`data-testid="one-time-password">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no one-time password shown")
	}
	secret := m[1]
	nina := c.User.Query().Where(entuser.Username("nina")).OnlyX(ctx)
	if !nina.ForcePasswordChange || strings.Contains(nina.PasswordHash, secret) {
		t.Fatalf("nina: force %v", nina.ForcePasswordChange)
	}
	// Never in the audit log.
	for _, a := range c.AuditLog.Query().Where(auditlog.ResourceID(nina.ID.String())).AllX(ctx) {
		if raw, _ := json.Marshal(a.Details); strings.Contains(string(raw), secret) {
			t.Fatal("the one-time password is in the audit log")
		}
	}

	ninaClient := env.Client(t)
	if status, loc := env.LoginLocal(t, ninaClient, "nina", secret); status != http.StatusSeeOther || loc != "/account/password" {
		t.Fatalf("first sign-in: %d %s; want the password change", status, loc)
	}

	// Disable: her open session ends on its next request, with the message.
	loc := carol.mustRedirect(t, "/admin/users/"+nina.ID.String()+"/disable", nil)
	if loc != "/admin/users/"+nina.ID.String() {
		t.Fatalf("disable redirect %s", loc)
	}
	status, _, resp := env.Get(t, ninaClient, "/vms")
	if status != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("nina's next request: %d %s", status, resp.Header.Get("Location"))
	}
	_, loginPage, _ := env.Get(t, ninaClient, resp.Header.Get("Location"))
	if !strings.Contains(loginPage, "Your account is disabled. Ask a platform administrator.") {
		t.Fatal("the sign-in page does not say the account is disabled")
	}
	status, body = env.LoginLocal(t, env.Client(t), "nina", secret)
	if status != http.StatusForbidden || !strings.Contains(body, auth.DisabledMessage) {
		t.Fatalf("sign-in of the disabled account: %d", status)
	}
	status, body = env.LoginLocal(t, env.Client(t), "nina", "a-wrong-password")
	if status != http.StatusUnauthorized || strings.Contains(body, auth.DisabledMessage) {
		t.Fatalf("a wrong password for the disabled account: %d (must not reveal it)", status)
	}

	// Carol cannot disable herself; once the seeded admin is disabled she is the last one.
	carolUser := c.User.Query().Where(entuser.Username("carol")).OnlyX(ctx)
	carol.mustRedirect(t, "/admin/users/"+carolUser.ID.String()+"/disable", nil)
	if c.User.GetX(ctx, carolUser.ID).Disabled {
		t.Fatal("carol disabled herself")
	}
	admin := c.User.Query().Where(entuser.Username(seed.AdminUsername)).OnlyX(ctx)
	carol.mustRedirect(t, "/admin/users/"+admin.ID.String()+"/disable", nil)
	_, page := carol.get(t, "/admin/users/"+carolUser.ID.String())
	if !strings.Contains(page, `data-testid="last-admin"`) || strings.Contains(page, `data-testid="disable-user"`) {
		t.Error("carol's page does not say she is the last platform administrator")
	}
}
