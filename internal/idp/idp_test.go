package idp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/identityprovider"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func setup(t *testing.T) (context.Context, *db.Store, *idp.Service, idp.Actor) {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	u := store.Ent.User.Create().SetUsername("carol").SaveX(ctx)
	a := idp.Actor{ID: u.ID, Name: u.Username, Principal: authz.NewPrincipal(u.ID, u.Username, []authz.Binding{{
		Role:         "PlatformAdmin",
		Permissions:  []string{authz.PlatformAdmin},
		ScopeType:    "global",
		Environments: []string{"test", "prod"},
	}}, nil)}
	return ctx, store, &idp.Service{Store: store, Box: box, DevMode: true, RedirectURL: "http://127.0.0.1/cb"}, a
}

func fields(t *testing.T, err error) domain.FieldErrors {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want field errors, got %v", err)
	}
	return ve.Fields
}

func TestProviderSecretIsSealedAndNeverAudited(t *testing.T) {
	ctx, store, svc, a := setup(t)
	in := idp.Input{Key: "acme", Label: "Acme", Issuer: "https://sso.acme.example/realms/a", ClientID: "shep",
		ClientSecret: "very-secret-value", Scopes: "profile email openid", GroupsClaim: "groups"}
	p, err := svc.Create(ctx, a, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.ClientSecretSealed, "very-secret") || p.ClientSecretSealed == "" {
		t.Fatalf("sealed secret %q", p.ClientSecretSealed)
	}
	if got, _ := svc.Box.Open(p.ClientSecretSealed); string(got) != "very-secret-value" {
		t.Fatalf("secret opens to %q", got)
	}
	if strings.Join(p.Scopes, " ") != "profile email" {
		t.Fatalf("scopes %v (openid is always asked and not stored)", p.Scopes)
	}
	// Edit without a secret keeps it; with a stale version nothing is saved.
	in.Label, in.ClientSecret, in.Version = "Acme SSO", "", p.Version
	p2, err := svc.Update(ctx, a, "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	if p2.ClientSecretSealed != p.ClientSecretSealed || p2.Label != "Acme SSO" || p2.Version != p.Version+1 {
		t.Fatalf("after edit: %+v", p2)
	}
	in.Label = "Stale"
	if _, err := svc.Update(ctx, a, "acme", in); err == nil || !strings.Contains(err.Error(), "Someone else changed") {
		t.Fatalf("stale edit: %v", err)
	}
	if store.Ent.IdentityProvider.Query().Where(identityprovider.LabelEQ("Stale")).ExistX(ctx) {
		t.Fatal("stale edit saved")
	}
	for _, row := range store.Ent.AuditLog.Query().Where(auditlog.ActionHasPrefix("idp.")).AllX(ctx) {
		b, _ := json.Marshal(row.Details)
		if strings.Contains(string(b), "very-secret") || strings.Contains(string(b), p.ClientSecretSealed) {
			t.Fatalf("%s audits the secret: %s", row.Action, b)
		}
	}
	if n := store.Ent.AuditLog.Query().Where(auditlog.Action("idp.update")).CountX(ctx); n != 1 {
		t.Fatalf("idp.update rows: %d", n)
	}
	// Delete: refused while enabled, then done with its mappings.
	if _, err := svc.Delete(ctx, a, "acme"); err == nil {
		t.Fatal("deleted an enabled provider")
	}
	if _, err := svc.SetEnabled(ctx, a, "acme", false); err != nil {
		t.Fatal(err)
	}
	if rp, _, err := svc.RelyingParty(ctx, "acme"); !errors.Is(err, idp.ErrNoProvider) || rp != nil {
		t.Fatalf("disabled provider still signs in: %v", err)
	}
	if _, err := svc.Delete(ctx, a, "acme"); err != nil {
		t.Fatal(err)
	}
}

func TestProviderFormRefusals(t *testing.T) {
	ctx, _, svc, a := setup(t)
	svc.DevMode = false
	f := fields(t, func() error {
		_, err := svc.Create(ctx, a, idp.Input{Key: "Bad Key", Issuer: "http://sso.example.com", GroupsClaim: ""})
		return err
	}())
	for _, k := range []string{"key", "label", "issuer", "client_id", "client_secret", "groups_claim"} {
		if f[k] == "" {
			t.Errorf("no problem on %s: %v", k, f)
		}
	}
	if !strings.Contains(f["issuer"], "HTTPS") {
		t.Errorf("issuer problem %q", f["issuer"])
	}
	// Not an admin: refused whatever the route said.
	a.Principal = authz.NewPrincipal(a.ID, a.Name, nil, nil)
	if _, err := svc.Create(ctx, a, idp.Input{}); err == nil || !strings.Contains(err.Error(), "platform administrators") {
		t.Fatalf("non-admin: %v", err)
	}
}

func TestDiscoveryProblemsInWords(t *testing.T) {
	var srvURL string
	// The handler of a timed-out request may still run when the next case sets the mode.
	var modeV atomic.Value
	modeV.Store("")
	set := func(m string) { modeV.Store(m) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := modeV.Load().(string)
		switch {
		case mode == "slow":
			time.Sleep(2 * time.Second)
		case r.URL.Path == "/.well-known/openid-configuration":
			iss := srvURL
			if mode == "slash" {
				iss += "/"
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "authorization_endpoint": srvURL + "/auth",
				"token_endpoint": srvURL + "/token", "jwks_uri": srvURL + "/jwks"})
		case r.URL.Path == "/jwks" && mode == "enc":
			_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","use":"enc","kid":"e1"},{"kty":"oct","kid":"h"}]}`))
		case r.URL.Path == "/jwks":
			_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1"},{"kty":"EC","kid":"k2"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	ctx := context.Background()
	client := &http.Client{Timeout: 500 * time.Millisecond}

	if r := idp.Discover(ctx, client, srv.URL, true); !r.OK || len(r.Keys) != 2 {
		t.Fatalf("good provider: %+v", r)
	}
	if r := idp.Discover(ctx, client, srv.URL, false); r.OK || !strings.Contains(r.Problem, "HTTPS") {
		t.Fatalf("plain HTTP outside dev mode: %+v", r)
	}
	if r := idp.Discover(ctx, client, "http://sso.example.com", true); r.OK || !strings.Contains(r.Problem, "HTTPS") {
		t.Fatalf("plain HTTP to another host: %+v", r)
	}
	set("slash")
	if r := idp.Discover(ctx, client, srv.URL, true); r.OK || !strings.Contains(r.Problem, "trailing slash") {
		t.Fatalf("issuer mismatch: %+v", r)
	}
	set("enc")
	if r := idp.Discover(ctx, client, srv.URL, true); r.OK || !strings.Contains(r.Problem, "no key Shepherd can verify") {
		t.Fatalf("JWKS without usable keys: %+v", r)
	}
	set("slow")
	if r := idp.Discover(ctx, client, srv.URL, true); r.OK || !strings.Contains(r.Problem, "did not answer in time") {
		t.Fatalf("timeout: %+v", r)
	}
	set("")
	if r := idp.Discover(ctx, client, srv.URL+"/nothing", true); r.OK || !strings.Contains(r.Problem, "404") {
		t.Fatalf("wrong issuer path: %+v", r)
	}
}

func TestMappingsVersionsBrokenRolesAndReevaluation(t *testing.T) {
	ctx, store, svc, a := setup(t)
	svc.Static = &idp.Static{Label: "Company SSO", Issuer: "https://sso.example.com", GroupsClaim: "groups"}
	approver := store.Ent.Role.Query().Where(role.Name("Approver")).OnlyX(ctx)
	m, err := svc.CreateMapping(ctx, a, auth.DefaultProviderName, idp.MappingInput{Group: "approvers", RoleID: approver.ID.String(), Environments: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	// The same group and role again: refused on the field.
	_, err = svc.CreateMapping(ctx, a, auth.DefaultProviderName, idp.MappingInput{Group: "approvers", RoleID: approver.ID.String(), Environments: []string{"test"}})
	if f := fields(t, err); f["group"] == "" {
		t.Fatalf("duplicate: %v", f)
	}
	// Two admins edit the same row: the second, made from the older version, is refused
	// and nothing of it is saved.
	first := idp.MappingInput{Group: "approvers", RoleID: approver.ID.String(), Environments: []string{"test", "prod"}, Version: m.Version}
	if _, err := svc.UpdateMapping(ctx, a, auth.DefaultProviderName, m.ID, first); err != nil {
		t.Fatal(err)
	}
	second := idp.MappingInput{Group: "approvers-2", RoleID: approver.ID.String(), Environments: []string{"test"}, Version: m.Version}
	if _, err := svc.UpdateMapping(ctx, a, auth.DefaultProviderName, m.ID, second); err == nil || !strings.Contains(err.Error(), "Someone else changed") {
		t.Fatalf("second edit: %v", err)
	}
	got := store.Ent.IdPGroupMapping.GetX(ctx, m.ID)
	if got.GroupName != "approvers" || len(got.AllowedEnvironments) != 2 {
		t.Fatalf("after the refused edit: %+v", got)
	}
	if _, err := svc.DeleteMapping(ctx, a, auth.DefaultProviderName, m.ID, m.Version); err == nil {
		t.Fatal("deleted from a stale version")
	}

	// A user signed in with the group, then the mapping changes: re-evaluation applies it
	// to users with a live session.
	authSvc := &auth.Service{Store: store}
	u, err := authSvc.LoginOIDC(ctx, auth.Identity{Issuer: "https://sso.example.com", Provider: auth.DefaultProviderName, Subject: "s1",
		Username: "erin", Groups: []string{"approvers", "staff"}})
	if err != nil {
		t.Fatal(err)
	}
	roleOf := func() []string {
		var names []string
		for _, b := range store.Ent.RoleBinding.Query().Where(rolebinding.UserID(u.ID), rolebinding.SourceEQ(rolebinding.SourceIdpMapping)).WithRole().AllX(ctx) {
			names = append(names, b.Edges.Role.Name)
		}
		return names
	}
	if r := roleOf(); len(r) != 1 || r[0] != "Approver" {
		t.Fatalf("roles at sign-in: %v", r)
	}
	g, err := svc.Grid(ctx, auth.DefaultProviderName)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Seen) != 2 {
		t.Fatalf("groups seen: %+v", g.Seen)
	}
	store.Ent.Session.Create().SetID("s-erin").SetUserID(u.ID).SetData([]byte("x")).SetLastSeenAt(time.Now()).
		SetExpiresAt(time.Now().Add(time.Hour)).ExecX(ctx)
	// The mapped role is deleted: the row shows broken, and gives nothing.
	custom := store.Ent.Role.Create().SetName("Temp").SaveX(ctx)
	cur := store.Ent.IdPGroupMapping.GetX(ctx, m.ID)
	if _, err := svc.UpdateMapping(ctx, a, auth.DefaultProviderName, m.ID, idp.MappingInput{Group: "approvers", RoleID: custom.ID.String(),
		Environments: []string{"test"}, Version: cur.Version}); err != nil {
		t.Fatal(err)
	}
	store.Ent.Role.DeleteOne(custom).ExecX(ctx)
	g, _ = svc.Grid(ctx, auth.DefaultProviderName)
	if len(g.Mappings) != 1 || !g.Mappings[0].Broken() {
		t.Fatalf("broken mapping not told: %+v", g.Mappings)
	}
	n, err := svc.Reevaluate(ctx, a, auth.DefaultProviderName)
	if err != nil || n != 1 {
		t.Fatalf("re-evaluated %d, %v", n, err)
	}
	if r := roleOf(); len(r) != 1 || r[0] != auth.DefaultRoleName {
		t.Fatalf("roles after re-evaluation with a broken mapping: %v (want the default)", r)
	}
	if c := store.Ent.AuditLog.Query().Where(auditlog.Action("idp.reevaluate")).CountX(ctx); c != 1 {
		t.Fatalf("re-evaluation audited %d times", c)
	}
	var _ *ent.IdPGroupMapping = m
}

// At start-up every enabled portal provider is checked once; its state then shows in
// the readiness body.
func TestCheckAllAtStartUp(t *testing.T) {
	ctx, _, svc, a := setup(t)
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srvURL, "authorization_endpoint": srvURL + "/auth",
			"token_endpoint": srvURL + "/token", "jwks_uri": srvURL + "/jwks"})
	}))
	defer srv.Close()
	srvURL = srv.URL
	if _, err := svc.Create(ctx, a, idp.Input{Key: "acme", Label: "Acme", Issuer: srv.URL, ClientID: "c", ClientSecret: "s", GroupsClaim: "groups"}); err != nil {
		t.Fatal(err)
	}
	if len(svc.Statuses()) != 0 {
		t.Fatal("a provider nobody used has a state")
	}
	svc.CheckAll(ctx)
	st := svc.Statuses()
	if len(st) != 1 || st[0].Name != "acme" || st[0].State != "ok" {
		t.Fatalf("states after the start-up check: %+v", st)
	}
}
