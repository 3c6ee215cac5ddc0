package devoidc

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// wantRetrieveError asserts err is an RFC 6749 error response with code and status.
func wantRetrieveError(t *testing.T, err error, code string, status int, descPart string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *oauth2.RetrieveError %s", err, code)
	}
	if re.ErrorCode != code || re.Response.StatusCode != status || !strings.Contains(re.ErrorDescription, descPart) {
		t.Fatalf("got %s/%d %q, want %s/%d containing %q", re.ErrorCode, re.Response.StatusCode, re.ErrorDescription, code, status, descPart)
	}
}

func TestTokenWrongCodeVerifier(t *testing.T) {
	e := newEnv(t, nil)
	code, verifier, _ := e.login(t, "alice")
	_, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "does not match code_challenge")
	// The failed attempt burned the code: no second guess, even a right one.
	_, err = e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "already used")
}

func TestTokenMissingCodeVerifier(t *testing.T) {
	e := newEnv(t, nil)
	code, _, _ := e.login(t, "alice")
	_, err := e.cfg.Exchange(t.Context(), code)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "code_verifier missing")
}

func TestTokenReplayedCode(t *testing.T) {
	e := newEnv(t, nil)
	code, verifier, _ := e.login(t, "alice")
	tok, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	if _, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("UserInfo before replay: %v", err)
	}
	_, err = e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "already used")
	// RFC 6749 4.1.2: a replay revokes the token the code produced.
	if _, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("UserInfo after replay: err = %v, want 401", err)
	}
}

func TestTokenWrongClientSecret(t *testing.T) {
	e := newEnv(t, nil)
	code, verifier, _ := e.login(t, "alice")
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		bad := e.cfg
		bad.ClientSecret = "wrong"
		bad.Endpoint.AuthStyle = style
		_, err := bad.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized, "authentication failed")
		var re *oauth2.RetrieveError
		errors.As(err, &re)
		if hasBasic := re.Response.Header.Get("WWW-Authenticate") != ""; hasBasic != (style == oauth2.AuthStyleInHeader) {
			t.Fatalf("style %d: WWW-Authenticate = %q", style, re.Response.Header.Get("WWW-Authenticate"))
		}
	}
	unknown := e.cfg
	unknown.ClientID = "nobody"
	_, err := unknown.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized, "authentication failed")

	// Unauthenticated attempts must not burn the code.
	if _, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange with the right secret after failures: %v", err)
	}
}

func TestTokenBindings(t *testing.T) {
	e := newEnv(t, nil)

	// redirect_uri must be the one the code was issued for, even if it is
	// another URI registered for the same client.
	code, verifier, _ := e.login(t, "alice")
	other := e.cfg
	other.RedirectURL = e.redirect2
	_, err := other.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "redirect_uri does not match")

	// A code is bound to the client it was issued to.
	code, verifier, _ = e.login(t, "alice")
	thief := e.cfg
	thief.ClientID, thief.ClientSecret = "other", "other-secret"
	_, err = thief.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "another client")

	_, err = e.cfg.Exchange(t.Context(), "made-up-code", oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "unknown or expired")
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenTTL = 5 * time.Minute })

	code, verifier, _ := e.login(t, "alice")
	e.clock.Advance(codeTTL + time.Second)
	_, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest, "unknown or expired")

	code, verifier, _ = e.login(t, "alice")
	tok, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if d := time.Until(tok.Expiry); d < 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Fatalf("expires in %v, want ~5m (TokenTTL)", d)
	}
	e.clock.Advance(5*time.Minute + time.Second)
	if _, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("UserInfo with expired token: err = %v, want 401", err)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	post := func(form url.Values, basic bool) (int, string) {
		req, _ := http.NewRequest("POST", e.issuerURL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(clientID, clientSecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readBody(t, resp)
	}
	if st, body := post(url.Values{"grant_type": {"password"}}, true); st != 400 || !strings.Contains(body, `"error":"unsupported_grant_type"`) {
		t.Errorf("password grant: %d %s", st, body)
	}
	if st, body := post(url.Values{"grant_type": {"authorization_code"}, "client_secret": {clientSecret}}, true); st != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Errorf("two auth methods: %d %s", st, body)
	}
	if st, body := post(url.Values{"grant_type": {"authorization_code"}}, false); st != 401 || !strings.Contains(body, `"error":"invalid_client"`) {
		t.Errorf("no client auth: %d %s", st, body)
	}
	if st, body := post(url.Values{"grant_type": {"authorization_code"}}, true); st != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Errorf("missing code: %d %s", st, body)
	}
	resp, err := http.Get(e.issuerURL + "/token")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /token: %d, want 405", resp.StatusCode)
	}
	for _, h := range []string{"", "Bearer ", "Bearer nope", "Basic " + clientSecret} {
		req, _ := http.NewRequest("GET", e.issuerURL+"/userinfo", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("userinfo with %q: %d %q", h, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestTamperedTokensRejected proves the app's verifier configuration rejects
// each class of bad ID token the issuer can be made to produce.
func TestTamperedTokensRejected(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(*Token)
		wantAlg string // header alg of the issued token
		check   func(error) bool
	}{
		{"alg none", func(tk *Token) { tk.Alg = "none" }, "none", errContains("malformed jwt")},
		{"HS256 with client secret", func(tk *Token) { tk.Alg = "HS256" }, "HS256", errContains("malformed jwt")},
		{"ES256 unknown key", func(tk *Token) { tk.Alg = "ES256" }, "ES256", errContains("failed to verify signature")},
		{"wrong aud", func(tk *Token) { tk.Claims["aud"] = "other" }, "RS256", errContains("expected audience")},
		{"aud list without us", func(tk *Token) { tk.Claims["aud"] = []string{"a", "b"} }, "RS256", errContains("expected audience")},
		{"wrong iss", func(tk *Token) { tk.Claims["iss"] = "http://evil.example/dev/oidc" }, "RS256", errContains("different provider")},
		{"expired", func(tk *Token) { tk.Claims["exp"] = time.Now().Add(-time.Minute).Unix() }, "RS256", func(err error) bool {
			var te *oidc.TokenExpiredError
			return errors.As(err, &te)
		}},
	}
	e := newEnv(t, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.iss.Tamper(c.tamper)
			raw := e.exchangeIDToken(t)
			if alg := headerAlg(t, raw); alg != c.wantAlg {
				t.Fatalf("issued token alg = %q, want %q", alg, c.wantAlg)
			}
			_, err := e.verifier.Verify(t.Context(), raw)
			if err == nil || !c.check(err) {
				t.Fatalf("Verify err = %v, want rejection", err)
			}
			// One-shot: the next token is normal again and verifies.
			if _, err := e.verifier.Verify(t.Context(), e.exchangeIDToken(t)); err != nil {
				t.Fatalf("token after tampered one: %v", err)
			}
		})
	}

	// Control: a hook that changes nothing yields a valid token, so the
	// rejections above come from the tampering, not the hook mechanism.
	e.iss.Tamper(func(*Token) {})
	if _, err := e.verifier.Verify(t.Context(), e.exchangeIDToken(t)); err != nil {
		t.Fatalf("no-op tamper: %v", err)
	}
}

func (e *env) exchangeIDToken(t *testing.T) string {
	t.Helper()
	code, verifier, _ := e.login(t, "alice")
	tok, err := e.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

func headerAlg(t *testing.T, raw string) string {
	t.Helper()
	algs := []jose.SignatureAlgorithm{"none", jose.HS256, jose.RS256, jose.ES256}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		t.Fatalf("parse issued token: %v", err)
	}
	return jws.Signatures[0].Header.Algorithm
}

func errContains(s string) func(error) bool {
	return func(err error) bool { return strings.Contains(err.Error(), s) }
}
