package devoidc

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// TestHappyPath drives the whole flow with x/oauth2 + go-oidc, as the app does.
func TestHappyPath(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()

	// Discovery through the prefix yields prefixed endpoints.
	if got, want := e.provider.Endpoint().AuthURL, e.issuerURL+"/authorize"; got != want {
		t.Fatalf("AuthURL = %q, want %q", got, want)
	}

	code, verifier, nonce := e.login(t, "alice")
	tok, err := e.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v, want Bearer with access token and expiry", tok)
	}
	rawID, ok := tok.Extra("id_token").(string)
	if !ok || rawID == "" {
		t.Fatal("no id_token in token response")
	}
	idt, err := e.verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if idt.Subject != "alice" || idt.Issuer != e.issuerURL || !slices.Equal(idt.Audience, []string{clientID}) {
		t.Fatalf("sub/iss/aud = %q/%q/%v", idt.Subject, idt.Issuer, idt.Audience)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		Username      string   `json:"preferred_username"`
		Groups        []string `json:"groups"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatalf("Claims: %v", err)
	}
	wantGroups := []string{"shepherd-requesters", "shop-system"}
	if claims.Email != "alice@example.test" || !claims.EmailVerified || claims.Name != "Alice Requester" ||
		claims.Username != "alice" || !slices.Equal(claims.Groups, wantGroups) {
		t.Fatalf("claims = %+v", claims)
	}

	// The ID token header names the published key.
	jws, err := jose.ParseSigned(rawID, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != e.iss.key.KeyID || kid == "" {
		t.Fatalf("kid = %q, want %q", kid, e.iss.key.KeyID)
	}

	ui, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var uiClaims struct {
		Username string   `json:"preferred_username"`
		Name     string   `json:"name"`
		Groups   []string `json:"groups"`
	}
	if err := ui.Claims(&uiClaims); err != nil {
		t.Fatalf("userinfo claims: %v", err)
	}
	if ui.Subject != "alice" || ui.Email != "alice@example.test" || uiClaims.Username != "alice" ||
		uiClaims.Name != "Alice Requester" || !slices.Equal(uiClaims.Groups, wantGroups) {
		t.Fatalf("userinfo = %+v %+v", ui, uiClaims)
	}
}

// TestClientSecretPost checks client_secret_post and the auto-detecting auth
// style x/oauth2 uses by default.
func TestClientSecretPost(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		e := newEnv(t, nil)
		e.cfg.Endpoint.AuthStyle = style
		code, verifier, _ := e.login(t, "bob")
		tok, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("style %d: Exchange: %v", style, err)
		}
		if _, err := e.verifier.Verify(t.Context(), tok.Extra("id_token").(string)); err != nil {
			t.Fatalf("style %d: Verify: %v", style, err)
		}
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	e := newEnv(t, nil)
	var doc map[string]any
	getJSON(t, e.issuerURL+"/.well-known/openid-configuration", &doc)
	want := map[string]any{
		"issuer":                                e.issuerURL,
		"authorization_endpoint":                e.issuerURL + "/authorize",
		"token_endpoint":                        e.issuerURL + "/token",
		"jwks_uri":                              e.issuerURL + "/jwks",
		"userinfo_endpoint":                     e.issuerURL + "/userinfo",
		"response_types_supported":              []any{"code"},
		"subject_types_supported":               []any{"public"},
		"id_token_signing_alg_values_supported": []any{"RS256"},
		"code_challenge_methods_supported":      []any{"S256"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
		"grant_types_supported":                 []any{"authorization_code"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(doc[k], v) {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	if s, _ := doc["scopes_supported"].([]any); !slices.Contains(s, any("openid")) {
		t.Errorf("scopes_supported = %v, want it to include openid", doc["scopes_supported"])
	}

	var set jose.JSONWebKeySet
	getJSON(t, e.issuerURL+"/jwks", &set)
	if len(set.Keys) != 1 {
		t.Fatalf("jwks has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if !k.IsPublic() || k.KeyID != e.iss.key.KeyID || k.Algorithm != "RS256" || k.Use != "sig" {
		t.Fatalf("jwk = public:%v kid:%q alg:%q use:%q", k.IsPublic(), k.KeyID, k.Algorithm, k.Use)
	}

	// Endpoints live only under the prefix.
	resp, err := http.Get(e.srv.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /jwks without prefix: status %d, want 404", resp.StatusCode)
	}
}

func TestNewValidation(t *testing.T) {
	ok := func() Options {
		return Options{
			Issuer:  "http://127.0.0.1:8080/dev/oidc",
			Clients: []Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:8080/cb"}}},
			Users:   []User{{Sub: "u"}},
		}
	}
	if _, err := New(ok()); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	cases := map[string]func(*Options){
		"relative issuer":      func(o *Options) { o.Issuer = "/dev/oidc" },
		"issuer with query":    func(o *Options) { o.Issuer += "?x=1" },
		"no clients":           func(o *Options) { o.Clients = nil },
		"no users":             func(o *Options) { o.Users = nil },
		"empty secret":         func(o *Options) { o.Clients[0].Secret = "" },
		"duplicate client":     func(o *Options) { o.Clients = append(o.Clients, o.Clients[0]) },
		"no redirect URIs":     func(o *Options) { o.Clients[0].RedirectURIs = nil },
		"relative redirect":    func(o *Options) { o.Clients[0].RedirectURIs = []string{"/cb"} },
		"redirect w/ fragment": func(o *Options) { o.Clients[0].RedirectURIs = []string{"http://h/cb#x"} },
		"empty sub":            func(o *Options) { o.Users = []User{{Sub: ""}} },
		"duplicate sub":        func(o *Options) { o.Users = []User{{Sub: "u"}, {Sub: "u"}} },
	}
	for name, mod := range cases {
		o := ok()
		mod(&o)
		if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "devoidc: ") {
			t.Errorf("%s: err = %v, want a devoidc error", name, err)
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: status %d, content-type %q", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
}
