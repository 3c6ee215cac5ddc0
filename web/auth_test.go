package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/devoidc"
)

func failedLoginReasons(t *testing.T, env *apptest.Env) []string {
	t.Helper()
	rows, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("user.login_failed")).
		Order(auditlog.ByCreatedAt()).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Details["reason"].(string))
	}
	return out
}

func TestOIDCCallbackReplayAndMismatchedState(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	cb := env.OIDCCallback(t, c, "demo-alice")

	// Tampered state: refused, and the pending login is consumed.
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", "not-the-state")
	u.RawQuery = q.Encode()
	status, body, _ := env.Get(t, c, u.String())
	if status != http.StatusUnauthorized || !strings.Contains(body, "no longer valid") {
		t.Fatalf("mismatched state: %d", status)
	}
	// The genuine callback now finds nothing pending: a replay cannot sign in.
	if status, _, _ := env.Get(t, c, cb); status != http.StatusUnauthorized {
		t.Fatalf("replayed callback: %d", status)
	}
	// A callback in another browser (no pending sign-in there) is refused too.
	c2 := env.Client(t)
	cb2 := env.OIDCCallback(t, c2, "demo-alice")
	if status, _, _ := env.Get(t, env.Client(t), cb2); status != http.StatusUnauthorized {
		t.Fatalf("callback in a foreign session: %d", status)
	}
	// The IdP reporting an error.
	u, _ = url.Parse(cb2)
	q = u.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	u.RawQuery = q.Encode()
	if status, _, _ := env.Get(t, c2, u.String()); status != http.StatusUnauthorized {
		t.Fatalf("idp error: %d", status)
	}
	got := strings.Join(failedLoginReasons(t, env), ",")
	if got != "state_mismatch,no_pending_login,no_pending_login,idp_error" {
		t.Fatalf("audited reasons: %s", got)
	}
	if !strings.Contains(env.Logs.String(), "OIDC sign-in failed") {
		t.Fatal("failure not logged")
	}
}

func TestOIDCRejectsBadTokens(t *testing.T) {
	env := apptest.Start(t)
	now := time.Now()
	cases := []struct {
		name   string
		tamper func(*devoidc.Token)
		reason string
	}{
		{"alg none", func(tk *devoidc.Token) { tk.Alg = "none" }, "invalid_token"},
		{"alg HS256", func(tk *devoidc.Token) { tk.Alg = "HS256" }, "invalid_token"},
		{"unknown ES256 key", func(tk *devoidc.Token) { tk.Alg = "ES256" }, "invalid_token"},
		{"wrong audience", func(tk *devoidc.Token) { tk.Claims["aud"] = "someone-else" }, "invalid_token"},
		{"wrong issuer", func(tk *devoidc.Token) { tk.Claims["iss"] = "https://evil.example.com" }, "invalid_token"},
		{"expired beyond skew", func(tk *devoidc.Token) {
			tk.Claims["exp"] = now.Add(-45 * time.Second).Unix()
			tk.Claims["iat"] = now.Add(-5 * time.Minute).Unix()
		}, "token_expired"},
		{"nonce mismatch", func(tk *devoidc.Token) { tk.Claims["nonce"] = "replayed-nonce" }, "nonce_mismatch"},
		{"issued too long ago", func(tk *devoidc.Token) { tk.Claims["iat"] = now.Add(-2 * time.Hour).Unix() }, "token_too_old"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := env.Client(t)
			env.App.DevIssuer.Tamper(tc.tamper)
			status, body, _ := env.Get(t, c, env.OIDCCallback(t, c, "demo-alice"))
			if status != http.StatusUnauthorized || !strings.Contains(body, "data-testid=\"login-error\"") {
				t.Fatalf("got %d", status)
			}
			if status, _, _ := env.Get(t, c, "/"); status != http.StatusSeeOther {
				t.Fatal("signed in despite a bad token")
			}
			reasons := failedLoginReasons(t, env)
			if reasons[len(reasons)-1] != tc.reason {
				t.Fatalf("audited reason %q, want %q", reasons[len(reasons)-1], tc.reason)
			}
		})
	}
	// Within the 30 s clock skew a just-expired token is still accepted.
	c := env.Client(t)
	env.App.DevIssuer.Tamper(func(tk *devoidc.Token) { tk.Claims["exp"] = time.Now().Add(-10 * time.Second).Unix() })
	if next := env.LoginOIDC(t, c, "demo-alice"); next != "/" {
		t.Fatalf("token inside clock skew refused: %s", next)
	}
}

func TestLocalAdminMustChangePasswordFirst(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.Client(t)

	status, body := env.LoginLocal(t, c, "admin", "wrong")
	if status != http.StatusUnauthorized || !strings.Contains(body, "not correct") {
		t.Fatalf("wrong password: %d", status)
	}
	status, next := env.LoginLocal(t, c, "admin", "admin")
	if status != http.StatusSeeOther || next != "/account/password" {
		t.Fatalf("admin login: %d %s", status, next)
	}
	for _, path := range []string{"/", "/me/permissions", "/admin/jobs"} {
		status, _, resp := env.Get(t, c, path)
		if status != http.StatusSeeOther || resp.Header.Get("Location") != "/account/password" {
			t.Fatalf("%s before password change: %d %s", path, status, resp.Header.Get("Location"))
		}
	}
	_, page, _ := env.Get(t, c, "/account/password")
	token := apptest.CSRF(t, page)
	bad := map[string][2]string{
		"too common":  {"password123", "password123"},
		"too short":   {"k3#Lm", "k3#Lm"},
		"mismatch":    {"correct horse battery", "correct horse batterx"},
		"has account": {"admin-admin-admin", "admin-admin-admin"},
	}
	for name, pw := range bad {
		status, body, _ := env.PostForm(t, c, "/account/password", url.Values{"csrf_token": {token}, "new": {pw[0]}, "confirm": {pw[1]}})
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, "password-problems") {
			t.Errorf("%s: got %d", name, status)
		}
	}
	long := strings.Repeat("ü", 30) + " straße 🐑 " + strings.Repeat("z", 10) // 64 runes, Unicode
	status, _, resp := env.PostForm(t, c, "/account/password", url.Values{"csrf_token": {token}, "new": {long}, "confirm": {long}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("valid password refused: %d", status)
	}
	if status, body, _ := env.Get(t, c, "/"); status != http.StatusOK || !strings.Contains(body, "password has been changed") {
		t.Fatalf("dashboard after change: %d", status)
	}
	admin, err := env.App.Store.Ent.User.Query().Where(user.Username("admin")).Only(ctx)
	if err != nil || admin.ForcePasswordChange || !strings.HasPrefix(admin.PasswordHash, "$2") {
		t.Fatalf("flag or hash: %+v %v", admin, err)
	}
	entry, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("user.password_change")).Only(ctx)
	if err != nil || entry.Details["reason"] != "first_login_forced" {
		t.Fatalf("audit: %+v %v", entry, err)
	}
	if strings.Contains(toJSON(entry.Details), long) {
		t.Fatal("password leaked into the audit log")
	}
	fresh := env.Client(t)
	if status, _ := env.LoginLocal(t, fresh, "admin", "admin"); status != http.StatusUnauthorized {
		t.Fatal("old password still works")
	}
	if status, next := env.LoginLocal(t, fresh, "admin", long); status != http.StatusSeeOther || next != "/" {
		t.Fatalf("new password: %d %s", status, next)
	}
	reasons := strings.Join(failedLoginReasons(t, env), ",")
	if reasons != "bad_password,bad_password" {
		t.Fatalf("failed logins audited as %s", reasons)
	}
}

func TestSessionIDRotatesAtLogin(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.Get(t, c, "/login")
	u, _ := url.Parse(env.URL)
	before := cookieValue(c.Jar.Cookies(u))
	env.LoginOIDC(t, c, "demo-bob")
	after := cookieValue(c.Jar.Cookies(u))
	if before == "" || after == "" || before == after {
		t.Fatal("session id not rotated at login")
	}
}

func cookieValue(cs []*http.Cookie) string {
	for _, c := range cs {
		if c.Name == "shepherd_session" {
			return c.Value
		}
	}
	return ""
}
