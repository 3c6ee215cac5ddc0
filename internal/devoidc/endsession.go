package devoidc

import (
	"encoding/json"
	"net/http"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// EndSession is one sign-out the provider was asked for, as its end_session endpoint
// understood it; see Issuer.EndSessions.
type EndSession struct {
	ClientID              string
	Subject               string // from a valid id_token_hint ("" without one)
	PostLogoutRedirectURI string // "" when none was given or it was not registered
}

// endSession implements OpenID Connect RP-Initiated Logout 1.0. The provider keeps no
// sessions of its own (the picker is shown at every sign-in), so ending one is checking
// the request and sending the browser back: to post_logout_redirect_uri when it is
// registered for the client (named by client_id or by the hint's audience), with state.
func (i *Issuer) endSession(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed request", http.StatusBadRequest)
		return
	}
	f := r.Form
	clientID := f.Get("client_id")
	var sub string
	if hint := f.Get("id_token_hint"); hint != "" {
		aud, s, ok := i.readHint(hint)
		if !ok || (clientID != "" && !slices.Contains(aud, clientID)) {
			http.Error(w, "id_token_hint is not an ID token this provider issued to that client", http.StatusBadRequest)
			return
		}
		sub = s
		if clientID == "" && len(aud) > 0 {
			clientID = aud[0]
		}
	}
	rec := EndSession{ClientID: clientID, Subject: sub}
	target := f.Get("post_logout_redirect_uri")
	if c, ok := i.clients[clientID]; ok && target != "" && slices.Contains(c.PostLogoutRedirectURIs, target) {
		rec.PostLogoutRedirectURI = target
	} else if target != "" {
		http.Error(w, "post_logout_redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	i.mu.Lock()
	i.ended = append(i.ended, rec)
	i.mu.Unlock()
	if rec.PostLogoutRedirectURI == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("You have been signed out of the development identity provider.\n"))
		return
	}
	params := map[string]string{}
	if st := f.Get("state"); st != "" {
		params["state"] = st
	}
	http.Redirect(w, r, withQuery(rec.PostLogoutRedirectURI, params), http.StatusFound)
}

// readHint checks an id_token_hint's signature (an expired hint is fine: RP-Initiated
// Logout 1.0 §2) and returns its audience and subject.
func (i *Issuer) readHint(raw string) ([]string, string, bool) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, "", false
	}
	payload, err := jws.Verify(i.key.Public())
	if err != nil {
		return nil, "", false
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Iss != i.issuer {
		return nil, "", false
	}
	var aud []string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var one string
		if json.Unmarshal(claims.Aud, &one) != nil {
			return nil, "", false
		}
		aud = []string{one}
	}
	return aud, claims.Sub, true
}

// EndSessions returns the sign-outs asked for so far, oldest first.
func (i *Issuer) EndSessions() []EndSession {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.ended)
}

// TamperUserInfo registers f to rewrite the NEXT userinfo answer (one-shot), so tests
// can play providers that send less (no groups, no profile).
func (i *Issuer) TamperUserInfo(f func(claims map[string]any)) {
	i.mu.Lock()
	i.tamperUI = f
	i.mu.Unlock()
}
