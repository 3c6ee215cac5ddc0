package devoidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// accessToken is an opaque bearer token, remembered for /userinfo.
type accessToken struct {
	sub, clientID string
	expires       time.Time
}

// tokenError is an RFC 6749 5.2 error response.
type tokenError struct {
	status     int
	code, desc string
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	client, terr := i.authenticateClient(r)
	if terr != nil {
		if _, _, basic := r.BasicAuth(); basic {
			// Required when the client tried the Authorization header (RFC 6749 5.2).
			w.Header().Set("WWW-Authenticate", `Basic realm="devoidc"`)
		}
		oauthError(w, terr.status, terr.code, terr.desc)
		return
	}
	f := r.PostForm
	switch gt := f.Get("grant_type"); {
	case gt == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	case gt != "authorization_code":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}

	now := i.now()
	code, access, tamper, terr := i.redeem(client, f, now)
	if terr != nil {
		oauthError(w, terr.status, terr.code, terr.desc)
		return
	}
	u := i.usersSub[code.sub]
	t := &Token{Alg: string(jose.RS256), Claims: map[string]any{
		"iss":                i.issuer,
		"sub":                u.Sub,
		"aud":                client.ID,
		"exp":                now.Add(i.ttl).Unix(),
		"iat":                now.Unix(),
		"nonce":              code.nonce,
		"email":              u.Email,
		"email_verified":     true, // configured dev users are trusted by definition
		"name":               u.Name,
		"preferred_username": u.Username,
		"groups":             append([]string{}, u.Groups...), // [] rather than null
	}}
	if tamper != nil {
		tamper(t) // outside the lock: the hook may call back into the Issuer
	}
	idToken, err := i.sign(t, client.Secret)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int64(i.ttl / time.Second),
		"id_token":     idToken,
	})
}

// authenticateClient checks client_secret_basic or client_secret_post.
func (i *Issuer) authenticateClient(r *http.Request) (Client, *tokenError) {
	invalid := &tokenError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bu, bp, ok := r.BasicAuth(); ok {
		if secret != "" {
			return Client{}, &tokenError{http.StatusBadRequest, "invalid_request", "use only one client authentication method"}
		}
		// Basic credentials are form-urlencoded first (RFC 6749 2.3.1);
		// golang.org/x/oauth2 does exactly that.
		bid, err1 := url.QueryUnescape(bu)
		bsecret, err2 := url.QueryUnescape(bp)
		if err1 != nil || err2 != nil || (id != "" && id != bid) {
			return Client{}, invalid
		}
		id, secret = bid, bsecret
	}
	c, known := i.clients[id]
	// Compare fixed-length digests so neither the secret's length nor its
	// content leaks through timing; unknown clients take the same path.
	ok := constantTimeEqual(secret, c.Secret) && known && secret != ""
	if !ok {
		return Client{}, invalid
	}
	return c, nil
}

func constantTimeEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// redeem consumes the authorization code in f for client and, if everything
// checks out, records a new access token. It also takes the one-shot tamper
// hook, but only when a token is actually going to be issued.
func (i *Issuer) redeem(client Client, f url.Values, now time.Time) (authCode, string, func(*Token), *tokenError) {
	grant := func(desc string) *tokenError {
		return &tokenError{http.StatusBadRequest, "invalid_grant", desc}
	}
	raw := f.Get("code")
	if raw == "" {
		return authCode{}, "", nil, &tokenError{http.StatusBadRequest, "invalid_request", "code is required"}
	}

	i.mu.Lock()
	defer i.mu.Unlock()
	i.sweepLocked(now)
	c := i.codes[raw]
	if c == nil {
		return authCode{}, "", nil, grant("unknown or expired code")
	}
	if c.used {
		// Replay: the code may have leaked, so revoke what it produced.
		delete(i.tokens, c.access)
		return authCode{}, "", nil, grant("code already used")
	}
	// Any redemption attempt by an authenticated client burns the code, so
	// a wrong code_verifier cannot be retried (no PKCE guessing).
	c.used = true
	switch {
	case c.clientID != client.ID:
		return authCode{}, "", nil, grant("code was issued to another client")
	case f.Get("redirect_uri") != c.redirectURI:
		return authCode{}, "", nil, grant("redirect_uri does not match the authorization request")
	case !validVerifier(f.Get("code_verifier")):
		return authCode{}, "", nil, grant("code_verifier missing or malformed")
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		return authCode{}, "", nil, grant("code_verifier does not match code_challenge")
	}

	access := randomString(32)
	i.tokens[access] = &accessToken{sub: c.sub, clientID: client.ID, expires: now.Add(i.ttl)}
	c.access = access
	tamper := i.tamper
	i.tamper = nil
	return *c, access, tamper, nil
}

// validVerifier checks RFC 7636 4.1: 43–128 chars of [A-Za-z0-9-._~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, ch := range v {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || strings.ContainsRune("-._~", ch)) {
			return false
		}
	}
	return true
}

// sweepLocked drops expired codes and tokens. Called on writes/lookups
// instead of from a background goroutine; the maps are tiny in dev.
func (i *Issuer) sweepLocked(now time.Time) {
	for k, c := range i.codes {
		if now.After(c.expires) {
			delete(i.codes, k)
		}
	}
	for k, t := range i.tokens {
		if now.After(t.expires) {
			delete(i.tokens, k)
		}
	}
}

// sign serialises t as a compact JWS according to t.Alg.
func (i *Issuer) sign(t *Token, clientSecret string) (string, error) {
	payload, err := json.Marshal(t.Claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	switch t.Alg {
	case "RS256":
		return joseSign(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, payload)
	case "ES256":
		// A throw-away key under a kid the JWKS does not publish.
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", err
		}
		jwk := &jose.JSONWebKey{Key: k, KeyID: "unknown-" + randomString(8)}
		return joseSign(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, payload)
	case "none", "HS256":
		// Built by hand: go-jose will not produce "none", and rejects HMAC
		// keys shorter than 256 bits, which dev client secrets may be.
		hdr, _ := json.Marshal(map[string]string{"alg": t.Alg, "typ": "JWT"})
		input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
		var sig []byte
		if t.Alg == "HS256" {
			m := hmac.New(sha256.New, []byte(clientSecret))
			m.Write([]byte(input))
			sig = m.Sum(nil)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
	default:
		return "", fmt.Errorf("unsupported token alg %q", t.Alg)
	}
}

func joseSign(key jose.SigningKey, payload []byte) (string, error) {
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// userinfo answers with the claims of the access token's user
// (OIDC Core 5.3). Only the Authorization header is accepted.
func (i *Issuer) userinfo(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	// The auth scheme is case-insensitive (RFC 7235 2.1).
	ok := len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ")
	raw := strings.TrimSpace(h[min(len(h), len("Bearer ")):])
	now := i.now()
	var tok *accessToken
	if ok && raw != "" {
		i.mu.Lock()
		i.sweepLocked(now)
		if t := i.tokens[raw]; t != nil {
			cp := *t
			tok = &cp
		}
		i.mu.Unlock()
	}
	if tok == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token", "missing, unknown or expired access token")
		return
	}
	u := i.usersSub[tok.sub]
	claims := map[string]any{
		"sub":                u.Sub,
		"email":              u.Email,
		"email_verified":     true,
		"name":               u.Name,
		"preferred_username": u.Username,
		"groups":             append([]string{}, u.Groups...),
	}
	i.mu.Lock()
	tamper := i.tamperUI
	i.tamperUI = nil
	i.mu.Unlock()
	if tamper != nil {
		tamper(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}
