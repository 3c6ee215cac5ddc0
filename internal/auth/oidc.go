package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"kv-shepherd.io/shepherd/internal/textutil"
)

// OIDCConfig configures sign-in through an OpenID Connect provider.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
	GroupsClaim  string
	// ClockSkew tolerated on exp (spec: 30 s). MaxTokenAge bounds iat (spec: 1 h).
	ClockSkew   time.Duration
	MaxTokenAge time.Duration
	HTTPClient  *http.Client
	Now         func() time.Time
}

// Identity is the normalized result of a successful OIDC sign-in.
type Identity struct {
	Subject  string
	Username string
	Email    string
	Name     string
	Groups   []string
}

// Pending is what the login start stores in the session and the callback checks.
type Pending struct {
	State    string
	Nonce    string
	Verifier string
}

// LoginError is a refused sign-in with a machine reason for the audit log.
type LoginError struct {
	Reason string // e.g. state_mismatch, invalid_token, nonce_mismatch, idp_unreachable
	Err    error
}

func (e *LoginError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *LoginError) Unwrap() error { return e.Err }

// OIDC is the relying party. Discovery happens on first use, so the portal starts even
// while the IdP is unreachable (and the dev issuer, served by this very process, is up).
type OIDC struct {
	cfg      OIDCConfig
	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// NewOIDC returns a relying party for cfg.
func NewOIDC(cfg OIDCConfig) *OIDC {
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	if cfg.MaxTokenAge == 0 {
		cfg.MaxTokenAge = time.Hour
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return &OIDC{cfg: cfg}
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, o.verifier, nil
	}
	p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, &LoginError{Reason: "idp_unreachable", Err: err}
	}
	v := p.Verifier(&oidc.Config{
		ClientID:             o.cfg.ClientID,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
		// go-oidc has no leeway on exp; shifting "now" back allows the spec's clock skew.
		Now: func() time.Time { return o.cfg.Now().Add(-o.cfg.ClockSkew) },
	})
	o.provider, o.verifier = p, v
	return p, v, nil
}

func (o *OIDC) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...),
	}
}

// Start returns the IdP's authorization URL and the values to keep in the session.
func (o *OIDC) Start(ctx context.Context) (string, Pending, error) {
	p, _, err := o.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pending := Pending{State: RandomToken(24), Nonce: RandomToken(24), Verifier: oauth2.GenerateVerifier()}
	u := o.oauth(p).AuthCodeURL(pending.State, oidc.Nonce(pending.Nonce), oauth2.S256ChallengeOption(pending.Verifier))
	return u, pending, nil
}

// Finish checks state, exchanges the code (with the PKCE verifier) and verifies the ID
// token: signature, RS256/ES256 only, issuer, audience, expiry with skew, nonce, iat age.
func (o *OIDC) Finish(ctx context.Context, pending Pending, state, code, idpError string) (Identity, error) {
	if pending.State == "" {
		return Identity{}, &LoginError{Reason: "no_pending_login", Err: errors.New("no sign-in was started in this browser session (or it was already used)")}
	}
	if subtle.ConstantTimeCompare([]byte(pending.State), []byte(state)) != 1 {
		return Identity{}, &LoginError{Reason: "state_mismatch"}
	}
	if idpError != "" {
		return Identity{}, &LoginError{Reason: "idp_error", Err: errors.New(idpError)}
	}
	if code == "" {
		return Identity{}, &LoginError{Reason: "missing_code"}
	}
	p, v, err := o.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := o.oauth(p).Exchange(o.ctx(ctx), code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return Identity{}, &LoginError{Reason: "token_exchange_failed", Err: err}
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, &LoginError{Reason: "invalid_token", Err: errors.New("no id_token in token response")}
	}
	idt, err := v.Verify(o.ctx(ctx), raw)
	if err != nil {
		reason := "invalid_token"
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			reason = "token_expired"
		}
		return Identity{}, &LoginError{Reason: reason, Err: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return Identity{}, &LoginError{Reason: "nonce_mismatch"}
	}
	if age := o.cfg.Now().Sub(idt.IssuedAt); age > o.cfg.MaxTokenAge {
		return Identity{}, &LoginError{Reason: "token_too_old", Err: fmt.Errorf("issued %s ago", age.Round(time.Second))}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, &LoginError{Reason: "invalid_token", Err: err}
	}
	if idt.Subject == "" || len(idt.Subject) > 255 || strings.ContainsRune(idt.Subject, 0) {
		return Identity{}, &LoginError{Reason: "invalid_token", Err: errors.New("the token's subject is empty, longer than 255 bytes or contains a NUL byte")}
	}
	// Claims are stored: an email that does not fit is dropped rather than cut (a cut
	// address is a wrong one); a name is cut at a character boundary.
	email := str(claims["email"])
	if len(email) > 320 {
		email = ""
	}
	id := Identity{Subject: idt.Subject, Email: email, Name: textutil.Truncate(str(claims["name"]), 255),
		Groups: groups(claims[o.cfg.GroupsClaim])}
	id.Username = str(claims["preferred_username"])
	if id.Username == "" {
		id.Username = id.Email
	}
	if id.Username == "" {
		id.Username = id.Subject
	}
	return id, nil
}

// str is a claim as text PostgreSQL can store (JSON strings are valid UTF-8, but may
// carry \u0000).
func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
}

// groups accepts a JSON array or a comma-separated string.
func groups(v any) []string {
	var out []string
	switch t := v.(type) {
	case []any:
		for _, g := range t {
			if s := str(g); s != "" {
				out = append(out, s)
			}
		}
	case string:
		for _, g := range strings.Split(t, ",") {
			if s := strings.TrimSpace(g); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
