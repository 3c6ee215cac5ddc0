package devoidc

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// RP-Initiated Logout: a registered post_logout_redirect_uri gets the browser back (with
// state); an unregistered one, a forged hint or a hint for another client is refused.
func TestEndSession(t *testing.T) {
	var back string
	e := newEnv(t, func(o *Options) {
		back = "http://rp.example/signed-out"
		o.Clients[0].PostLogoutRedirectURIs = []string{back}
	})
	var discovery struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := e.provider.Claims(&discovery); err != nil || discovery.EndSession != e.issuerURL+"/end_session" {
		t.Fatalf("discovery end_session_endpoint %q %v", discovery.EndSession, err)
	}
	code, verifier, _ := e.login(t, testUsers()[0].Sub)
	tok, err := e.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)

	get := func(q url.Values) *http.Response {
		t.Helper()
		resp, err := e.noRedirect.Get(discovery.EndSession + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		return resp
	}
	resp := get(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {back}, "client_id": {clientID}, "state": {"s1"}})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != back+"?state=s1" {
		t.Fatalf("registered return: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ended := e.iss.EndSessions(); len(ended) != 1 || ended[0].Subject != testUsers()[0].Sub || ended[0].ClientID != clientID {
		t.Fatalf("recorded: %+v", ended)
	}
	for name, q := range map[string]url.Values{
		"unregistered return": {"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"forged hint":         {"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}, "post_logout_redirect_uri": {back}},
		"another client":      {"id_token_hint": {idToken}, "client_id": {"other"}},
	} {
		if resp := get(q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// Without a return address the provider just says so.
	if resp := get(url.Values{"client_id": {clientID}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("no return address: %d", resp.StatusCode)
	}
}
