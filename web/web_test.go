package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
)

func TestAnonymousIsSentToSignIn(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	status, _, resp := env.Get(t, c, "/me/permissions")
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fme%2Fpermissions" {
		t.Fatalf("got %d %s", status, resp.Header.Get("Location"))
	}
	status, body, _ := env.Get(t, c, "/login")
	if status != http.StatusOK || !strings.Contains(body, "Sign in to Shepherd") || !strings.Contains(body, "first-run-hint") {
		t.Fatalf("login page: %d", status)
	}
}

func TestUnknownRouteIsAPageOrFragment(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	status, body, _ := env.Get(t, c, "/no/such/page")
	if status != http.StatusNotFound || !strings.Contains(body, "Page not found") || !strings.Contains(body, "<html") {
		t.Fatalf("404 page: %d %.300s", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/no/such/page", nil)
	req.Header.Set("HX-Request", "true")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("HX-Retarget") != "#flash-area" {
		t.Fatalf("htmx 404: %d retarget=%q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
	}
}

func TestPostWithoutCSRFTokenIsRefused(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.Get(t, c, "/login") // gets a session with a token
	status, body, _ := env.PostForm(t, c, "/login", url.Values{"username": {"admin"}, "password": {"admin"}})
	if status != http.StatusForbidden || !strings.Contains(body, "did not come from Shepherd") {
		t.Fatalf("got %d", status)
	}
	status, _, _ = env.PostForm(t, c, "/login", url.Values{"csrf_token": {"forged"}, "username": {"admin"}, "password": {"admin"}})
	if status != http.StatusForbidden {
		t.Fatalf("forged token: got %d", status)
	}
	if !strings.Contains(env.Logs.String(), "CSRF check failed") {
		t.Fatal("CSRF failure not logged")
	}
}

func TestSecurityHeaders(t *testing.T) {
	env := apptest.Start(t)
	_, _, resp := env.Get(t, env.Client(t), "/login")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Error("CSP allows inline code on portal pages")
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
		t.Error("nosniff or referrer policy missing")
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS must only be sent over TLS")
	}
	for _, c := range resp.Cookies() {
		if c.Name == "shepherd_session" && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode) {
			t.Errorf("session cookie flags: %+v", c)
		}
	}
}

func TestTamperedSessionCookieIsIgnored(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-alice")
	if status, _, _ := env.Get(t, c, "/"); status != http.StatusOK {
		t.Fatalf("signed in: %d", status)
	}
	u, _ := url.Parse(env.URL)
	cookies := c.Jar.Cookies(u)
	for _, ck := range cookies {
		if ck.Name == "shepherd_session" {
			ck.Value = ck.Value[:len(ck.Value)-4] + "AAAA"
		}
	}
	c.Jar.SetCookies(u, cookies)
	status, _, resp := env.Get(t, c, "/")
	if status != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("tampered cookie: %d %s", status, resp.Header.Get("Location"))
	}
	if !strings.Contains(env.Logs.String(), "tampered or foreign session cookie") {
		t.Fatal("tampering not logged")
	}
}

func TestIdleAndRevokedSessionsEnd(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-bob")
	if _, err := env.App.Store.Ent.Session.Update().Where(session.UserIDNotNil()).
		SetLastSeenAt(time.Now().Add(-31 * time.Minute)).Save(ctx); err != nil {
		t.Fatal(err)
	}
	status, _, resp := env.Get(t, c, "/")
	if status != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("idle session still valid: %d", status)
	}
	_, body, _ := env.Get(t, c, "/login")
	if !strings.Contains(body, "Your session has ended") {
		t.Fatal("no message about the ended session")
	}

	c2 := env.Client(t)
	env.LoginOIDC(t, c2, "demo-bob")
	u, err := env.App.Store.Ent.User.Query().Where().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, usr := range u {
		if usr.Username == "bob" {
			if _, err := env.App.Sessions.RevokeUser(ctx, usr.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if status, _, _ := env.Get(t, c2, "/"); status != http.StatusSeeOther {
		t.Fatalf("revoked session still valid: %d", status)
	}
}

func TestDemoUsersSeeNavigationForTheirRole(t *testing.T) {
	env := apptest.Start(t)
	cases := []struct {
		sub, name string
		jobs      bool
		perm      string
		envs      []string
	}{
		{"demo-alice", "Alice", false, "vm:create", []string{"test"}},
		{"demo-bob", "Bob", false, "approval:approve", []string{"prod", "test"}},
		{"demo-dana", "Dana", false, "rbac:manage", []string{"prod", "test"}},
		{"demo-carol", "Carol", true, "platform:admin", []string{"prod", "test"}},
		{"demo-victor", "Victor", false, "vm:read", []string{"test"}},
	}
	for _, tc := range cases {
		t.Run(tc.sub, func(t *testing.T) {
			c := env.Client(t)
			if next := env.LoginOIDC(t, c, tc.sub); next != "/" {
				t.Fatalf("landed on %q", next)
			}
			status, body, _ := env.Get(t, c, "/")
			if status != http.StatusOK || !strings.Contains(body, "Welcome, "+tc.name) {
				t.Fatalf("dashboard: %d", status)
			}
			if got := strings.Contains(body, `data-nav="jobs"`); got != tc.jobs {
				t.Errorf("jobs link shown=%v, want %v", got, tc.jobs)
			}
			status, _, _ = env.Get(t, c, "/admin/jobs/")
			if tc.jobs && status != http.StatusOK || !tc.jobs && status != http.StatusForbidden {
				t.Errorf("job UI answered %d", status)
			}
			_, js, _ := env.Get(t, c, "/api/v1/me/permissions")
			var out struct {
				Permissions []struct {
					ID           string   `json:"id"`
					Environments []string `json:"environments"`
				} `json:"permissions"`
			}
			if err := json.Unmarshal([]byte(js), &out); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range out.Permissions {
				if p.ID == tc.perm {
					found = strings.Join(p.Environments, ",") == strings.Join(tc.envs, ",")
				}
				if tc.sub == "demo-victor" && p.ID == "vm:create" {
					t.Error("unmapped user must not get vm:create")
				}
			}
			if !found {
				t.Errorf("%s lacks %s in %v: %s", tc.sub, tc.perm, tc.envs, js)
			}
		})
	}
}

func TestLogoutNeedsPostAndCSRF(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-alice")
	// A link or image pointing at /logout must not sign anyone out.
	if status, _, _ := env.Get(t, c, "/logout"); status != http.StatusMethodNotAllowed && status != http.StatusNotFound {
		t.Fatalf("GET /logout: %d", status)
	}
	if status, _, _ := env.Get(t, c, "/"); status != http.StatusOK {
		t.Fatal("GET /logout signed the user out")
	}
	if status, _, _ := env.PostForm(t, c, "/logout", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", status)
	}
	_, page, _ := env.Get(t, c, "/")
	status, _, resp := env.PostForm(t, c, "/logout", url.Values{"csrf_token": {apptest.CSRF(t, page)}})
	// The development issuer advertises end_session_endpoint: the browser ends its session
	// there too (RP-initiated logout) and comes back to the signed-out page.
	end, err := url.Parse(resp.Header.Get("Location"))
	if status != http.StatusSeeOther || err != nil || end.Path != "/dev/oidc/end_session" ||
		end.Query().Get("id_token_hint") == "" || end.Query().Get("post_logout_redirect_uri") != env.URL+"/signed-out" {
		t.Fatalf("logout: %d %s", status, resp.Header.Get("Location"))
	}
	if status, _, resp := env.Get(t, c, end.String()); status != http.StatusFound || resp.Header.Get("Location") != env.URL+"/signed-out" {
		t.Fatalf("end session: %d %s", status, resp.Header.Get("Location"))
	}
	if status, body, _ := env.Get(t, c, "/signed-out"); status != http.StatusOK || !strings.Contains(body, "You have signed out.") {
		t.Fatalf("signed-out page: %d", status)
	}
	if status, _, _ := env.Get(t, c, "/"); status != http.StatusSeeOther {
		t.Fatal("still signed in after logout")
	}
	n, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("user.logout"), auditlog.ActorName("alice")).Count(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("logout audit rows: %d %v", n, err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	if status, _, _ := env.Get(t, c, "/health/live"); status != http.StatusOK {
		t.Fatal("live")
	}
	if status, body, _ := env.Get(t, c, "/health/ready"); status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatal("ready")
	}
	if status, _, _ := env.Get(t, c, "/health/startup"); status != http.StatusOK {
		t.Fatal("startup")
	}
	// The body reports the cluster watchers this process runs (the demo's simulated clusters).
	var ready struct {
		Status   string
		Watchers []struct {
			Cluster      string
			Healthy      bool
			StaleSeconds float64 `json:"stale_seconds"`
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body, _ := env.Get(t, c, "/health/ready")
		if err := json.Unmarshal([]byte(body), &ready); err != nil {
			t.Fatalf("ready body %q: %v", body, err)
		}
		if len(ready.Watchers) > 0 && ready.Watchers[0].Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy watcher in the readiness body: %s", body)
		}
	}
	if w := ready.Watchers[0]; w.Cluster == "" || w.StaleSeconds < 0 || w.StaleSeconds > 60 {
		t.Errorf("watcher report %+v", w)
	}
	env.Get(t, c, "/login")
	// Not on the portal's address: route names, status counts and queue depths are for operators.
	if status, body, _ := env.Get(t, c, "/metrics"); status != http.StatusNotFound || strings.Contains(body, "shepherd_river_jobs") {
		t.Errorf("portal /metrics: %d, want 404", status)
	}
	resp, err := http.Get("http://" + env.App.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`shepherd_http_request_duration_seconds_bucket{method="GET",route="/login"`, "shepherd_river_jobs{",
		`shepherd_cluster_watcher{cluster="` + ready.Watchers[0].Cluster + `"} 1`, "shepherd_cluster_watcher_staleness_seconds{"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// With a token, a scraper that only reaches the portal's address may read /metrics there.
func TestMetricsOnThePortalNeedTheToken(t *testing.T) {
	token := strings.Repeat("s3cret-", 6)
	env := apptest.Start(t, func(c *config.Config) { c.MetricsToken = token; c.MetricsAddr = "off" })
	if env.App.MetricsAddr() != "" {
		t.Errorf("metrics listener %q although off", env.App.MetricsAddr())
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token[1:], token} {
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("Authorization %q: %d, want 404", auth, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "shepherd_river_jobs") {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
}

func TestReadyFailsWhenDatabaseIsGone(t *testing.T) {
	env := apptest.Start(t)
	env.App.Pool.Close()
	status, body, _ := env.Get(t, env.Client(t), "/health/ready")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "database unreachable") {
		t.Fatalf("got %d %s", status, body)
	}
}

func TestDevIssuerIsNotMountedOutsideDevMode(t *testing.T) {
	env := apptest.Start(t, apptest.Production)
	c := env.Client(t)
	for _, path := range []string{"/dev/oidc/.well-known/openid-configuration", "/dev/oidc/authorize", "/auth/oidc/start"} {
		if status, _, _ := env.Get(t, c, path); status != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", path, status)
		}
	}
	_, body, _ := env.Get(t, c, "/login")
	if strings.Contains(body, "sso-login") || !strings.Contains(body, `name="password"`) {
		t.Fatal("login page must offer only the local form without an IdP")
	}
}
