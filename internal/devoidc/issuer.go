// Package devoidc is a small, real OpenID Connect provider for development
// mode. The app mounts it inside itself (e.g. under /dev/oidc) so that the
// production OIDC client code — discovery, auth-code flow with PKCE S256,
// state, nonce, ID-token verification, userinfo — runs unchanged against it
// over HTTP, exactly as it would against Keycloak. Instead of a password
// prompt it shows a picker of configured users.
//
// It must never be mounted in production: anyone who can reach it can sign
// in as any configured user. The caller is responsible for that.
//
// State (authorization codes, access tokens) lives in memory, guarded by a
// mutex and expired lazily; the package starts no goroutines.
package devoidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is an identity that can be picked on the sign-in page.
type User struct {
	Sub, Username, Name, Email string
	Groups                     []string
	// Description is shown in the picker, e.g. "Requester — member of System shop".
	Description string
}

// Client is a registered relying party. RedirectURIs and PostLogoutRedirectURIs (where
// the end_session endpoint may send the browser back to) are matched exactly.
type Client struct {
	ID, Secret             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// Options configures an Issuer.
type Options struct {
	// Issuer is the full issuer URL, e.g. http://127.0.0.1:8080/dev/oidc.
	// The discovery document reports exactly this string, and endpoint URLs
	// are built from it, so it must match where Handler is mounted.
	Issuer  string
	Clients []Client
	Users   []User
	// TokenTTL is the lifetime of ID and access tokens; default 10 minutes.
	TokenTTL time.Duration
	// Now is the clock; default time.Now. Tests inject a fake clock.
	Now func() time.Time
	// RenderPicker renders the user-picker page (GET /authorize, or a POST
	// that needs to be re-shown with d.Error set). It should write a 200, or
	// a 4xx when d.Error is non-empty. When nil a plain built-in page is used.
	RenderPicker func(w http.ResponseWriter, r *http.Request, d PickerData)
}

// PickerData is what a picker page needs: a form POSTing to Action with the
// Hidden fields as hidden inputs and one submit button per user named "user"
// whose value is the user's Sub.
type PickerData struct {
	Users    []User
	Action   string            // form action URL (POST)
	Hidden   map[string]string // authorize params to carry through as hidden inputs
	ClientID string
	Error    string
}

// Token is an ID token about to be signed; see Issuer.Tamper.
type Token struct {
	// Alg selects how the token is signed: "RS256" (normal, issuer key),
	// "none" (unsigned), "HS256" (HMAC with the client secret) or "ES256"
	// (a throw-away P-256 key the JWKS does not contain).
	Alg    string
	Claims map[string]any
}

const (
	defaultTokenTTL = 10 * time.Minute
	// codeTTL is short because a code only bridges one browser redirect.
	codeTTL = 60 * time.Second
)

// Issuer is a development OpenID Connect provider. Create it with New.
type Issuer struct {
	issuer   string // reported verbatim in discovery and the iss claim
	base     string // issuer without trailing slash, for endpoint URLs
	ttl      time.Duration
	now      func() time.Time
	render   func(http.ResponseWriter, *http.Request, PickerData)
	clients  map[string]Client
	users    []User // picker order
	usersSub map[string]User

	key *jose.JSONWebKey // private RS256 signing key, KeyID set

	mu       sync.Mutex
	codes    map[string]*authCode
	tokens   map[string]*accessToken
	tamper   func(*Token)
	tamperUI func(map[string]any)
	ended    []EndSession
}

// New validates opts and generates a fresh RSA-2048 signing key. A new key
// per process is fine: relying parties re-fetch the JWKS on an unknown kid.
func New(opts Options) (*Issuer, error) {
	u, err := url.Parse(opts.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("devoidc: issuer %q must be an absolute http(s) URL without query or fragment", opts.Issuer)
	}
	i := &Issuer{
		issuer:   opts.Issuer,
		base:     strings.TrimSuffix(opts.Issuer, "/"),
		ttl:      opts.TokenTTL,
		now:      opts.Now,
		render:   opts.RenderPicker,
		clients:  make(map[string]Client, len(opts.Clients)),
		usersSub: make(map[string]User, len(opts.Users)),
		codes:    make(map[string]*authCode),
		tokens:   make(map[string]*accessToken),
	}
	if i.ttl <= 0 {
		i.ttl = defaultTokenTTL
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.render == nil {
		i.render = builtinPicker
	}
	if len(opts.Clients) == 0 || len(opts.Users) == 0 {
		return nil, errors.New("devoidc: at least one client and one user are required")
	}
	for _, c := range opts.Clients {
		if c.ID == "" || c.Secret == "" {
			return nil, errors.New("devoidc: client ID and secret must be non-empty")
		}
		if _, dup := i.clients[c.ID]; dup {
			return nil, fmt.Errorf("devoidc: duplicate client %q", c.ID)
		}
		if len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("devoidc: client %q has no redirect URIs", c.ID)
		}
		for _, ru := range c.RedirectURIs {
			p, err := url.Parse(ru)
			if err != nil || !p.IsAbs() || p.Host == "" || p.Fragment != "" {
				return nil, fmt.Errorf("devoidc: client %q: redirect URI %q must be absolute without fragment", c.ID, ru)
			}
		}
		c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
		c.PostLogoutRedirectURIs = append([]string(nil), c.PostLogoutRedirectURIs...)
		i.clients[c.ID] = c
	}
	for _, usr := range opts.Users {
		if usr.Sub == "" {
			return nil, errors.New("devoidc: user Sub must be non-empty")
		}
		if _, dup := i.usersSub[usr.Sub]; dup {
			return nil, fmt.Errorf("devoidc: duplicate user %q", usr.Sub)
		}
		usr.Groups = append([]string(nil), usr.Groups...)
		i.usersSub[usr.Sub] = usr
		i.users = append(i.users, usr)
	}

	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devoidc: generating signing key: %w", err)
	}
	i.key = &jose.JSONWebKey{Key: priv, KeyID: "dev-" + randomString(8), Algorithm: string(jose.RS256), Use: "sig"}
	return i, nil
}

// Handler serves the provider's endpoints relative to the issuer path; mount
// it with http.StripPrefix so it sees "/.well-known/openid-configuration",
// "/authorize", "/token", "/jwks" and "/userinfo".
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /jwks", i.jwks)
	mux.HandleFunc("GET /authorize", i.authorizeGet)
	mux.HandleFunc("POST /authorize", i.authorizePost)
	mux.HandleFunc("POST /token", i.token)
	// OIDC Core 5.3.1 allows both GET and POST for userinfo.
	mux.HandleFunc("GET /userinfo", i.userinfo)
	mux.HandleFunc("POST /userinfo", i.userinfo)
	// OpenID Connect RP-Initiated Logout 1.0: GET and POST.
	mux.HandleFunc("GET /end_session", i.endSession)
	mux.HandleFunc("POST /end_session", i.endSession)
	return mux
}

// Tamper registers f to rewrite the NEXT ID token issued by /token before it
// is signed (one-shot). It exists so tests can prove that a relying party
// rejects bad tokens (alg none, HS256, wrong aud/iss, expired, ...).
func (i *Issuer) Tamper(f func(t *Token)) {
	i.mu.Lock()
	i.tamper = f
	i.mu.Unlock()
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.issuer,
		"authorization_endpoint":                i.base + "/authorize",
		"token_endpoint":                        i.base + "/token",
		"jwks_uri":                              i.base + "/jwks",
		"userinfo_endpoint":                     i.base + "/userinfo",
		"end_session_endpoint":                  i.base + "/end_session",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"grant_types_supported":                 []string{"authorization_code"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "nonce",
			"email", "email_verified", "name", "preferred_username", "groups"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{i.key.Public()}})
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// Token responses must not be cached (RFC 6749 5.1); harmless elsewhere.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError writes an RFC 6749 section 5.2 error response.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
