package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/devoidc"
	"kv-shepherd.io/shepherd/web"
)

// externalOP is an independent OpenID provider on its own loopback server (the
// development issuer's code, not mounted in Shepherd), behind a handler that can answer
// like a provider having a bad day.
type externalOP struct {
	url string
	iss *devoidc.Issuer
	// token: 0 normal, 502 a gateway error, 401 invalid_client (a wrong secret).
	token atomic.Int32
	// noEndSession hides end_session_endpoint from discovery.
	noEndSession atomic.Bool
}

const externalClient = "shepherd-test"

// startWithOP starts Shepherd signing in through an external provider. issuerSuffix is
// appended to the issuer setting ("/" plays the trailing-slash misconfiguration).
func startWithOP(t *testing.T, devMode bool, issuerSuffix string, setup ...func(*externalOP)) (*apptest.Env, *externalOP) {
	t.Helper()
	op := &externalOP{}
	for _, f := range setup {
		f(op)
	}
	var inner http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/token") && op.token.Load() == http.StatusBadGateway:
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		case strings.HasSuffix(r.URL.Path, "/token") && op.token.Load() == http.StatusUnauthorized:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
			return
		case strings.HasSuffix(r.URL.Path, "/openid-configuration") && op.noEndSession.Load():
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			var doc map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &doc)
			delete(doc, "end_session_endpoint")
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(doc)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	op.url = srv.URL + "/idp"
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.DevMode = devMode
		iss, err := devoidc.New(devoidc.Options{
			Issuer: op.url,
			Clients: []devoidc.Client{{
				ID:                     externalClient,
				Secret:                 "external-secret",
				RedirectURIs:           []string{cfg.BaseURL + web.OIDCCallbackPath},
				PostLogoutRedirectURIs: []string{cfg.BaseURL + web.SignedOutPath},
			}},
			Users: []devoidc.User{{Sub: "u-1", Username: "zoe", Name: "Zoe Zitadel", Email: "zoe@example.com", Groups: []string{"approvers"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		op.iss = iss
		inner = http.StripPrefix("/idp", iss.Handler())
		cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret = op.url+issuerSuffix, externalClient, "external-secret"
		cfg.OIDCProviderName = "Zitadel"
	})
	return env, op
}

type idpHealth struct {
	Status            string `json:"status"`
	IdentityProviders []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Setting string `json:"setting"`
		Error   string `json:"error"`
	} `json:"identity_providers"`
}

// waitIdPState polls /health/ready until the provider reaches state; the replica stays ready.
func waitIdPState(t *testing.T, env *apptest.Env, state string) idpHealth {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, _ := env.Get(t, env.Client(t), "/health/ready")
		var h idpHealth
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK || h.Status != "ok" {
			t.Fatalf("readiness: %d %s", status, body)
		}
		if len(h.IdentityProviders) == 1 && h.IdentityProviders[0].State == state {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity provider never %s: %s", state, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Zitadel-like provider: profile from userinfo, groups as a string, the ID token kept
// server-side and handed back at sign-out; Entra's overage tells the user and the log.
func TestExternalProviderProfileGroupsAndSignOut(t *testing.T) {
	env, op := startWithOP(t, false, "")
	ctx := context.Background()
	c := env.App.Store.Ent
	approver := c.Role.Query().Where(role.Name("Approver")).OnlyX(ctx)
	c.IdPGroupMapping.Create().SetGroupName("approvers").SetRoleID(approver.ID).SetAllowedEnvironments([]string{"test"}).ExecX(ctx)
	waitIdPState(t, env, "ok")

	// Zitadel's default ID token: the subject, no profile; the groups as one string.
	op.iss.Tamper(func(tk *devoidc.Token) {
		for _, k := range []string{"name", "email", "preferred_username"} {
			delete(tk.Claims, k)
		}
		tk.Claims["groups"] = "approvers"
	})
	browser := env.Client(t)
	if to := env.LoginOIDC(t, browser, "u-1"); to != "/" {
		t.Fatalf("landed on %s", to)
	}
	u := c.User.Query().Where(user.ExternalID("u-1")).OnlyX(ctx)
	if u.Issuer == nil || *u.Issuer != op.url || u.Username != "zoe" || u.DisplayName != "Zoe Zitadel" || u.Email != "zoe@example.com" {
		t.Fatalf("user from userinfo: %+v issuer %v", u, u.Issuer)
	}
	if n := c.RoleBinding.Query().Where(rolebinding.UserID(u.ID), rolebinding.RoleID(approver.ID)).CountX(ctx); n != 1 {
		t.Fatalf("approver bindings %d", n)
	}

	// Entra ID's overage, and no profile anywhere: signed in with the default access, told
	// why, and the known name and email are kept.
	op.iss.Tamper(func(tk *devoidc.Token) {
		for _, k := range []string{"name", "email", "groups"} {
			delete(tk.Claims, k)
		}
		tk.Claims["_claim_names"] = map[string]any{"groups": "src1"}
		tk.Claims["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/u-1/getMemberObjects"}}
	})
	op.iss.TamperUserInfo(func(cl map[string]any) { delete(cl, "name"); delete(cl, "email") })
	other := env.Client(t)
	env.LoginOIDC(t, other, "u-1")
	if _, body, _ := env.Get(t, other, "/"); !strings.Contains(body, "groups overage") {
		t.Fatal("the overage notice is not shown after sign-in")
	}
	again := c.User.GetX(ctx, u.ID)
	if again.DisplayName != "Zoe Zitadel" || again.Email != "zoe@example.com" {
		t.Fatalf("profile blanked: %q %q", again.DisplayName, again.Email)
	}
	if n := c.RoleBinding.Query().Where(rolebinding.UserID(u.ID), rolebinding.RoleID(approver.ID)).CountX(ctx); n != 0 {
		t.Fatal("groups that were not delivered kept their role")
	}
	if !strings.Contains(env.Logs.String(), "groups not delivered") {
		t.Fatal("the overage is not logged")
	}
	login := c.AuditLog.Query().Where(auditlog.Action("user.login"), auditlog.ActorName("zoe")).Order(auditlog.ByCreatedAt()).AllX(ctx)
	if len(login) != 2 || login[1].Details["groups_problem"] != "overage" {
		t.Fatalf("audit: %+v", login)
	}

	// Sign-out goes to the provider's end_session with the ID token, kept in the session
	// row and never in a cookie or a page.
	_, page, _ := env.Get(t, browser, "/")
	var rows [][]byte
	for _, s := range c.Session.Query().AllX(ctx) {
		rows = append(rows, s.Data)
	}
	status, _, resp := env.PostForm(t, browser, "/logout", url.Values{"csrf_token": {apptest.CSRF(t, page)}})
	end, err := url.Parse(resp.Header.Get("Location"))
	if status != http.StatusSeeOther || err != nil || end.Scheme+"://"+end.Host+end.Path != op.url+"/end_session" {
		t.Fatalf("logout: %d %s", status, resp.Header.Get("Location"))
	}
	hint := end.Query().Get("id_token_hint")
	if hint == "" || end.Query().Get("client_id") != externalClient || end.Query().Get("post_logout_redirect_uri") != env.URL+"/signed-out" {
		t.Fatalf("end session query: %v", end.Query())
	}
	if strings.Contains(page, hint) {
		t.Fatal("the ID token is in a page")
	}
	kept := false
	for _, data := range rows {
		kept = kept || bytes.Contains(data, []byte(hint))
	}
	if !kept {
		t.Fatal("the ID token is not in a session row")
	}
	for _, ck := range browser.Jar.Cookies(mustURL(t, env.URL)) {
		if strings.Contains(ck.Value, hint[:40]) {
			t.Fatal("the ID token is in a cookie")
		}
	}
	status, _, resp = env.Get(t, browser, end.String())
	if status != http.StatusFound || resp.Header.Get("Location") != env.URL+"/signed-out" {
		t.Fatalf("provider's sign-out: %d %s", status, resp.Header.Get("Location"))
	}
	if ended := op.iss.EndSessions(); len(ended) != 1 || ended[0].Subject != "u-1" {
		t.Fatalf("ended at the provider: %+v", ended)
	}
	if status, body, _ := env.Get(t, browser, "/signed-out"); status != http.StatusOK || !strings.Contains(body, "You have signed out.") {
		t.Fatalf("signed-out page: %d", status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// An issuer setting that differs from the provider's by a trailing slash: reported at
// start-up (ERROR naming the setting, /health/ready's body, the replica still ready) and
// to the user as a misconfiguration. In dev mode with an external issuer no demo users
// are seeded or advertised.
func TestOIDCIssuerMismatchIsReportedAtStartUp(t *testing.T) {
	env, _ := startWithOP(t, true, "/")
	h := waitIdPState(t, env, "misconfigured")
	if p := h.IdentityProviders[0]; p.Setting != "SHEPHERD_OIDC_ISSUER" || !strings.Contains(p.Error, "trailing slash") {
		t.Fatalf("health: %+v", p)
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "setting=SHEPHERD_OIDC_ISSUER") {
		t.Fatalf("not logged at ERROR naming the setting:\n%.3000s", logs)
	}
	c := env.Client(t)
	status, body, _ := env.Get(t, c, "/auth/oidc/start")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "Sign-in is misconfigured — tell your administrator") ||
		strings.Contains(body, "Try again in a moment") {
		t.Fatalf("start: %d %.2000s", status, body)
	}

	ctx := context.Background()
	if n := env.App.Store.Ent.User.Query().Where(user.AuthTypeEQ(user.AuthTypeOidc)).CountX(ctx); n != 0 {
		t.Fatalf("%d demo users seeded with an external issuer", n)
	}
	if n := env.App.Store.Ent.IdPGroupMapping.Query().CountX(ctx); n != 0 {
		t.Fatalf("%d demo group mappings seeded with an external issuer", n)
	}
	if _, body, _ := env.Get(t, c, "/login"); strings.Contains(body, "demo users") || !strings.Contains(body, "Sign in with Zitadel") {
		t.Fatalf("login page advertises demo users: %.2000s", body)
	}
}

// A token endpoint that is down says "try again"; one refusing the client credentials
// says the sign-in is misconfigured (and /health/ready names the setting); a provider
// without end_session leaves a note that its session may still be open.
func TestOIDCTokenEndpointFailures(t *testing.T) {
	env, op := startWithOP(t, false, "", func(op *externalOP) { op.noEndSession.Store(true) })
	waitIdPState(t, env, "ok")

	op.token.Store(http.StatusBadGateway)
	c := env.Client(t)
	status, body, _ := env.Get(t, c, env.OIDCCallback(t, c, "u-1"))
	if status != http.StatusBadGateway || !strings.Contains(body, "Try again in a moment") {
		t.Fatalf("502 at the token endpoint: %d %.2000s", status, body)
	}

	op.token.Store(http.StatusUnauthorized)
	status, body, _ = env.Get(t, c, env.OIDCCallback(t, c, "u-1"))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "Sign-in is misconfigured — tell your administrator") {
		t.Fatalf("invalid_client: %d %.2000s", status, body)
	}
	h := waitIdPState(t, env, "misconfigured")
	if p := h.IdentityProviders[0]; p.Setting != "SHEPHERD_OIDC_CLIENT_SECRET" || !strings.Contains(p.Error, "invalid_client") {
		t.Fatalf("health: %+v", p)
	}
	if !strings.Contains(env.Logs.String(), "setting=SHEPHERD_OIDC_CLIENT_SECRET") {
		t.Fatal("invalid_client not logged with the setting")
	}
	got := strings.Join(failedLoginReasons(t, env), ",")
	if got != "idp_unreachable,misconfigured" {
		t.Fatalf("audited reasons: %s", got)
	}

	op.token.Store(0)
	env.LoginOIDC(t, c, "u-1")
	waitIdPState(t, env, "ok")
	_, page, _ := env.Get(t, c, "/")
	status, _, resp := env.PostForm(t, c, "/logout", url.Values{"csrf_token": {apptest.CSRF(t, page)}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/signed-out?idp_session=open" {
		t.Fatalf("logout without end_session: %d %s", status, resp.Header.Get("Location"))
	}
	if _, body, _ := env.Get(t, c, "/signed-out?idp_session=open"); !strings.Contains(body, "Your session at Zitadel may still be open") {
		t.Fatalf("no note about the provider's session: %.2000s", body)
	}
}
