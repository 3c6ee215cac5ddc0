package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/devoidc"
)

const (
	opClient   = "shepherd"
	opSecret   = "op-secret"
	opRedirect = "https://shepherd.example.test/api/v1/auth/oidc/callback"
	opSignOut  = "https://shepherd.example.test/signed-out"
)

// op is an OpenID provider on a loopback HTTP server: the development issuer, behind a
// handler that can misbehave like a provider having a bad day.
type op struct {
	url string // the issuer URL the provider reports
	iss *devoidc.Issuer
	// tokenStatus, when set, is what the token endpoint answers instead (e.g. 502).
	tokenStatus atomic.Int32
	// discoveryStatus, when set, is what discovery answers instead (e.g. 503).
	discoveryStatus atomic.Int32
}

func newOP(t *testing.T) *op {
	t.Helper()
	o := &op{}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := o.discoveryStatus.Load(); s != 0 && strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			w.WriteHeader(int(s))
			return
		}
		if s := o.tokenStatus.Load(); s != 0 && strings.HasSuffix(r.URL.Path, "/token") {
			w.WriteHeader(int(s))
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	o.url = srv.URL + "/op"
	iss, err := devoidc.New(devoidc.Options{
		Issuer: o.url,
		Clients: []devoidc.Client{{ID: opClient, Secret: opSecret, RedirectURIs: []string{opRedirect},
			PostLogoutRedirectURIs: []string{opSignOut}}},
		Users: []devoidc.User{{Sub: "u-1", Username: "zoe", Name: "Zoe Zitadel", Email: "zoe@example.com", Groups: []string{"devs"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.iss = iss
	h = http.StripPrefix("/op", iss.Handler())
	return o
}

// syncBuffer is a log sink safe for the provider's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func (o *op) rp(issuer, secret string, logs *syncBuffer) *auth.OIDC {
	return auth.NewOIDC(auth.OIDCConfig{Name: "corp", Issuer: issuer, ClientID: opClient, ClientSecret: secret,
		RedirectURL: opRedirect, Scopes: []string{"profile", "email"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

// signIn runs a sign-in through the provider's picker and returns Finish's result.
func (o *op) signIn(t *testing.T, rp *auth.OIDC) (auth.Identity, error) {
	t.Helper()
	ctx := context.Background()
	target, pending, err := rp.Start(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	return o.finish(t, rp, target, pending)
}

func (o *op) finish(t *testing.T, rp *auth.OIDC, target string, pending auth.Pending) (auth.Identity, error) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(target)
	form := u.Query()
	form.Set("user", "u-1")
	u.RawQuery = ""
	resp, err := c.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	q := cb.Query()
	return rp.Finish(context.Background(), pending, q.Get("state"), q.Get("code"), q.Get("error"))
}

func reasonOf(err error) (string, string) {
	le, ok := err.(*auth.LoginError)
	if !ok {
		return "", ""
	}
	return le.Reason, le.Setting
}

// The issuer setting with a trailing slash the provider does not have (or the other way
// round) is a misconfiguration naming SHEPHERD_OIDC_ISSUER, reported in Status and logged
// at ERROR; a provider answering 503 is a passing failure.
func TestOIDCDiscoveryTellsMisconfigurationFromOutage(t *testing.T) {
	t.Parallel()
	o := newOP(t)
	logs := &syncBuffer{}
	rp := o.rp(o.url+"/", opSecret, logs)
	if st := rp.Status(); st.State != "unchecked" {
		t.Fatalf("before discovery: %+v", st)
	}
	err := rp.Discover(context.Background())
	if reason, setting := reasonOf(err); reason != "misconfigured" || setting != auth.SettingIssuer || !strings.Contains(err.Error(), "trailing slash") {
		t.Fatalf("trailing slash: %v", err)
	}
	if st := rp.Status(); st.State != "misconfigured" || st.Setting != auth.SettingIssuer || st.CheckedAt.IsZero() {
		t.Fatalf("status: %+v", st)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "setting=SHEPHERD_OIDC_ISSUER") {
		t.Fatalf("not logged at ERROR with the setting:\n%s", l)
	}
	if _, _, err := rp.Start(context.Background()); !auth.Misconfigured(err) {
		t.Fatalf("start with a wrong issuer: %v", err)
	}

	o.discoveryStatus.Store(http.StatusServiceUnavailable)
	down := o.rp(o.url, opSecret, &syncBuffer{})
	if reason, _ := reasonOf(down.Discover(context.Background())); reason != "idp_unreachable" || down.Status().State != "unreachable" {
		t.Fatalf("503: %s %+v", reason, down.Status())
	}
	// Retried until it works: the watcher returns once the provider answers.
	o.discoveryStatus.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	down.Watch(ctx, 10*time.Millisecond, 50*time.Millisecond)
	if st := down.Status(); st.State != "ok" {
		t.Fatalf("after the outage: %+v", st)
	}
}

// A wrong client secret (invalid_client from the token endpoint) is a misconfiguration
// naming the client settings; a 502 from the token endpoint is a passing failure.
func TestOIDCTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	o := newOP(t)
	logs := &syncBuffer{}
	rp := o.rp(o.url, "not-the-secret", logs)
	_, err := o.signIn(t, rp)
	if reason, setting := reasonOf(err); reason != "misconfigured" || setting != auth.SettingClientSecret || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	if st := rp.Status(); st.State != "misconfigured" || st.Setting != auth.SettingClientSecret {
		t.Fatalf("status: %+v", st)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "setting=SHEPHERD_OIDC_CLIENT_SECRET") {
		t.Fatalf("not logged:\n%s", l)
	}

	good := o.rp(o.url, opSecret, &syncBuffer{})
	o.tokenStatus.Store(http.StatusBadGateway)
	_, err = o.signIn(t, good)
	if reason, _ := reasonOf(err); reason != "idp_unreachable" {
		t.Fatalf("502 from the token endpoint: %v", err)
	}
	o.tokenStatus.Store(0)
	if _, err := o.signIn(t, good); err != nil {
		t.Fatalf("after the 502: %v", err)
	}
	if st := good.Status(); st.State != "ok" {
		t.Fatalf("status after a good sign-in: %+v", st)
	}
}

// An ID token without profile (Zitadel's default) is completed from userinfo; groups
// arrive as providers send them, and their absence is told apart from Entra's overage.
func TestOIDCProfileAndGroupsAsProvidersSendThem(t *testing.T) {
	t.Parallel()
	o := newOP(t)
	logs := &syncBuffer{}
	rp := o.rp(o.url, opSecret, logs)

	o.iss.Tamper(func(tk *devoidc.Token) {
		for _, k := range []string{"name", "email", "preferred_username", "groups"} {
			delete(tk.Claims, k)
		}
	})
	id, err := o.signIn(t, rp)
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != o.url || id.Subject != "u-1" || id.Name != "Zoe Zitadel" || id.Email != "zoe@example.com" ||
		id.Username != "zoe" || strings.Join(id.Groups, ",") != "devs" || id.GroupsProblem != "" || id.IDToken == "" {
		t.Fatalf("from userinfo: %+v", id)
	}

	cases := []struct {
		name        string
		token       func(map[string]any)
		userinfo    func(map[string]any)
		groups      string
		problem     string
		logContains string
	}{
		{name: "string", token: func(c map[string]any) { c["groups"] = "admins" }, groups: "admins"},
		{name: "comma-separated string", token: func(c map[string]any) { c["groups"] = "admins, devs" }, groups: "admins,devs"},
		{name: "Keycloak paths", token: func(c map[string]any) { c["groups"] = []string{"/admins", "/org/devs"} }, groups: "/admins,/org/devs"},
		{name: "Entra object ids", token: func(c map[string]any) { c["groups"] = []string{"6f1c9d0e-2b4a-4a57-9d3e-0c8a1b2c3d4e"} },
			groups: "6f1c9d0e-2b4a-4a57-9d3e-0c8a1b2c3d4e"},
		{name: "Entra overage", token: func(c map[string]any) {
			delete(c, "groups")
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/u-1/getMemberObjects"}}
		}, problem: auth.GroupsOverage, logContains: "Groups assigned to the application"},
		{name: "no groups claim anywhere", token: func(c map[string]any) { delete(c, "groups") },
			userinfo: func(c map[string]any) { delete(c, "groups") }, problem: auth.GroupsMissing, logContains: "setting=SHEPHERD_OIDC_GROUPS_CLAIM"},
		{name: "a number", token: func(c map[string]any) { c["groups"] = 42 }, problem: auth.GroupsInvalid},
	}
	for _, tc := range cases {
		o.iss.Tamper(func(tk *devoidc.Token) { tc.token(tk.Claims) })
		if tc.userinfo != nil {
			o.iss.TamperUserInfo(tc.userinfo)
		}
		id, err := o.signIn(t, rp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if strings.Join(id.Groups, ",") != tc.groups || id.GroupsProblem != tc.problem {
			t.Errorf("%s: groups %q problem %q; want %q %q", tc.name, id.Groups, id.GroupsProblem, tc.groups, tc.problem)
		}
		if tc.problem != "" && auth.GroupsNotice(tc.problem, "groups") == "" {
			t.Errorf("%s: no notice for the user", tc.name)
		}
		if tc.logContains != "" && !strings.Contains(logs.String(), tc.logContains) {
			t.Errorf("%s: log lacks %q", tc.name, tc.logContains)
		}
	}

	// A userinfo answer about someone else is refused.
	o.iss.Tamper(func(tk *devoidc.Token) { delete(tk.Claims, "name") })
	o.iss.TamperUserInfo(func(c map[string]any) { c["sub"] = "someone-else" })
	if _, err := o.signIn(t, rp); err == nil || !strings.Contains(err.Error(), "userinfo is about subject") {
		t.Fatalf("userinfo for another subject: %v", err)
	}
}

// A sign-in started with one provider is never finished by another, and the provider's
// sign-out URL carries the ID token, the signed-out page and the client id.
func TestOIDCProvidersAreKeptApartAndSignOut(t *testing.T) {
	t.Parallel()
	o := newOP(t)
	rp := o.rp(o.url, opSecret, &syncBuffer{})
	other := auth.NewOIDC(auth.OIDCConfig{Name: "other", Issuer: o.url, ClientID: opClient, ClientSecret: opSecret, RedirectURL: opRedirect})
	target, pending, err := rp.Start(context.Background())
	if err != nil || pending.Provider != "corp" {
		t.Fatalf("start: %v %+v", err, pending)
	}
	if _, err := o.finish(t, other, target, pending); err == nil || !strings.Contains(err.Error(), "provider_mismatch") {
		t.Fatalf("finished by another provider: %v", err)
	}
	id, err := o.signIn(t, rp)
	if err != nil {
		t.Fatal(err)
	}
	end, err := url.Parse(rp.EndSessionURL(context.Background(), id.IDToken, opSignOut))
	if err != nil || end.Scheme+"://"+end.Host+end.Path != o.url+"/end_session" {
		t.Fatalf("end session URL %v %v", end, err)
	}
	q := end.Query()
	if q.Get("id_token_hint") != id.IDToken || q.Get("post_logout_redirect_uri") != opSignOut || q.Get("client_id") != opClient {
		t.Fatalf("end session query: %v", q)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(end.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != opSignOut {
		t.Fatalf("provider's sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ended := o.iss.EndSessions(); len(ended) != 1 || ended[0].Subject != "u-1" || ended[0].ClientID != opClient {
		t.Fatalf("ended sessions: %+v", ended)
	}
}
