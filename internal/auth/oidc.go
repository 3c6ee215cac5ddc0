package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"kv-shepherd.io/shepherd/internal/textutil"
)

// Keys that name an identity provider in stored identities (users.issuer).
const (
	// DevIssuerKey names the development issuer, whose URL changes with the listen port.
	DevIssuerKey = "urn:shepherd:dev-issuer"
	// UnassignedIssuer marks IdP users signed in before issuers were recorded (migration
	// 0020); AdoptUnassignedIdentities hands them to the configured provider.
	UnassignedIssuer = "urn:shepherd:unassigned-issuer"
)

// The settings a misconfiguration is reported against.
const (
	SettingIssuer       = "SHEPHERD_OIDC_ISSUER"
	SettingClientID     = "SHEPHERD_OIDC_CLIENT_ID"
	SettingClientSecret = "SHEPHERD_OIDC_CLIENT_SECRET"
	SettingScopes       = "SHEPHERD_OIDC_SCOPES"
	SettingGroupsClaim  = "SHEPHERD_OIDC_GROUPS_CLAIM"
)

// OIDCConfig configures sign-in through one OpenID Connect provider.
type OIDCConfig struct {
	// Name identifies the provider in the sign-in state kept in the browser's session and
	// in logs; a callback is only ever finished by the provider that started it. Default
	// "default".
	Name string
	// Key identifies the provider in stored identities: users are keyed by (Key, sub).
	// Default: Issuer.
	Key          string
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
	Logger      *slog.Logger
}

// Identity is the normalized result of a successful OIDC sign-in.
type Identity struct {
	// Issuer is the provider's Key: with Subject, what the user is found by.
	Issuer string
	// Provider is the provider's Name: its group mappings are the ones applied.
	Provider string
	Subject  string
	Username string
	Email    string // "" when the provider did not say
	Name     string // "" when the provider did not say
	Groups   []string
	// GroupsProblem is set when the groups could not be read: GroupsMissing,
	// GroupsOverage or GroupsInvalid. The user then gets only the default access.
	GroupsProblem string
	// IDToken is the raw ID token, kept server-side with the session for the
	// provider's sign-out (id_token_hint).
	IDToken string
}

// Why the groups could not be read from the provider's answer.
const (
	GroupsMissing = "missing" // no groups claim at all
	GroupsOverage = "overage" // Entra ID: too many groups, only a reference was sent
	GroupsInvalid = "invalid" // the claim is neither a list nor a string
)

// GroupsNotice is what a user is told after signing in when their groups were not read.
func GroupsNotice(problem, claim string) string {
	switch problem {
	case GroupsOverage:
		return "Your identity provider did not send your groups: you are a member of more groups than fit in a sign-in token (Microsoft Entra ID's \"groups overage\"). " +
			"You have only the default access until an administrator limits the groups claim to the groups assigned to Shepherd's application in Entra ID."
	case GroupsMissing:
		return fmt.Sprintf("Your identity provider sent no %q claim, so Shepherd could not read your groups and you have only the default access. "+
			"Ask an administrator to configure the provider to send it.", claim)
	case GroupsInvalid:
		return fmt.Sprintf("Your identity provider sent a %q claim Shepherd could not read (neither a list nor text), so you have only the default access. "+
			"Ask an administrator to check the provider's groups mapper.", claim)
	}
	return ""
}

// Pending is what the login start stores in the session and the callback checks.
type Pending struct {
	Provider string
	State    string
	Nonce    string
	Verifier string
}

// LoginError is a refused sign-in with a machine reason for the audit log.
type LoginError struct {
	Reason string // e.g. state_mismatch, invalid_token, nonce_mismatch, idp_unreachable, misconfigured
	// Setting names the setting to fix when Reason is "misconfigured".
	Setting string
	Err     error
}

func (e *LoginError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *LoginError) Unwrap() error { return e.Err }

// Misconfigured reports whether err says Shepherd's OIDC settings are wrong (not a
// passing failure, not the visitor's doing).
func Misconfigured(err error) bool {
	var le *LoginError
	return errors.As(err, &le) && le.Reason == "misconfigured"
}

func misconfigured(setting, format string, args ...any) *LoginError {
	return &LoginError{Reason: "misconfigured", Setting: setting, Err: fmt.Errorf(format, args...)}
}

func unreachable(format string, args ...any) *LoginError {
	return &LoginError{Reason: "idp_unreachable", Err: fmt.Errorf(format, args...)}
}

// ProviderStatus is how the provider answered lately, for /health/ready.
type ProviderStatus struct {
	Name   string
	Issuer string
	// State: "unchecked" (not asked yet), "ok", "unreachable" (network, 5xx, timeout:
	// retried) or "misconfigured" (a setting is wrong: Setting names it).
	State     string
	Setting   string
	Error     string
	CheckedAt time.Time
}

// OIDC is the relying party for one provider. Discovery is retried until it succeeds:
// the portal starts while the IdP is unreachable (and the dev issuer, served by this very
// process, is up), and reports why sign-in cannot work yet (Status).
type OIDC struct {
	cfg OIDCConfig

	mu     sync.Mutex
	disc   *discovered
	status ProviderStatus
}

type discovered struct {
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	endSession string
}

// NewOIDC returns a relying party for cfg.
func NewOIDC(cfg OIDCConfig) *OIDC {
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.Key == "" {
		cfg.Key = cfg.Issuer
	}
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &OIDC{cfg: cfg, status: ProviderStatus{Name: cfg.Name, Issuer: cfg.Issuer, State: "unchecked"}}
}

// Name is the provider's name in sign-in state.
func (o *OIDC) Name() string { return o.cfg.Name }

// Key is what the provider's users are stored under (users.issuer).
func (o *OIDC) Key() string { return o.cfg.Key }

// GroupsClaim is the claim the provider's groups are read from.
func (o *OIDC) GroupsClaim() string { return o.cfg.GroupsClaim }

// Status is the provider's latest state.
func (o *OIDC) Status() ProviderStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status
}

// note records the outcome of talking to the provider; a misconfiguration is logged at
// ERROR with the setting to fix, every time (it stops every sign-in).
func (o *OIDC) note(err error) {
	st := ProviderStatus{Name: o.cfg.Name, Issuer: o.cfg.Issuer, State: "ok", CheckedAt: o.cfg.Now()}
	var le *LoginError
	switch {
	case err == nil:
	case errors.As(err, &le) && le.Reason == "misconfigured":
		st.State, st.Setting, st.Error = "misconfigured", le.Setting, le.Err.Error()
		o.cfg.Logger.Error("OIDC sign-in is misconfigured", "provider", o.cfg.Name, "setting", le.Setting, "err", le.Err)
	case errors.As(err, &le) && le.Reason == "idp_unreachable":
		st.State, st.Error = "unreachable", le.Err.Error()
	default:
		return // the visitor's sign-in failed; says nothing about the provider
	}
	o.mu.Lock()
	o.status = st
	o.mu.Unlock()
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// discoveryDoc is the part of the discovery document Shepherd uses.
type discoveryDoc struct {
	oidc.ProviderConfig
	EndSession string `json:"end_session_endpoint"`
}

// Discover fetches the discovery document (once it succeeded, the result is kept). Its
// errors tell a passing failure (reason idp_unreachable) from a wrong setting (reason
// misconfigured, Setting named).
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.discover(ctx)
	return err
}

func (o *OIDC) discover(ctx context.Context) (*discovered, error) {
	o.mu.Lock()
	d := o.disc
	o.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err := o.fetchDiscovery(ctx)
	o.note(err)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	if o.disc == nil {
		o.disc = d
	}
	d = o.disc
	o.mu.Unlock()
	return d, nil
}

func (o *OIDC) fetchDiscovery(ctx context.Context) (*discovered, error) {
	wellKnown := strings.TrimSuffix(o.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, misconfigured(SettingIssuer, "%q is not a usable URL: %v", o.cfg.Issuer, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, unreachable("discovery at %s: %v", wellKnown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, unreachable("discovery at %s: %v", wellKnown, err)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, unreachable("discovery at %s answered %s", wellKnown, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, misconfigured(SettingIssuer, "discovery at %s answered %s: is %s the provider's issuer URL?", wellKnown, resp.Status, SettingIssuer)
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, misconfigured(SettingIssuer, "%s is not an OpenID discovery document (%v): is %s the provider's issuer URL?", wellKnown, err, SettingIssuer)
	}
	if doc.IssuerURL != o.cfg.Issuer {
		hint := ""
		if strings.TrimSuffix(doc.IssuerURL, "/") == strings.TrimSuffix(o.cfg.Issuer, "/") {
			hint = " (they differ only in the trailing slash, which counts: copy the provider's issuer exactly)"
		}
		return nil, misconfigured(SettingIssuer, "%s is %q but the provider's discovery document says its issuer is %q; they must be identical%s",
			SettingIssuer, o.cfg.Issuer, doc.IssuerURL, hint)
	}
	if doc.AuthURL == "" || doc.TokenURL == "" || doc.JWKSURL == "" {
		return nil, misconfigured(SettingIssuer, "the discovery document at %s lacks authorization_endpoint, token_endpoint or jwks_uri", wellKnown)
	}
	p := doc.ProviderConfig.NewProvider(o.ctx(context.WithoutCancel(ctx)))
	v := p.Verifier(&oidc.Config{
		ClientID:             o.cfg.ClientID,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
		// go-oidc has no leeway on exp; shifting "now" back allows the spec's clock skew.
		Now: func() time.Time { return o.cfg.Now().Add(-o.cfg.ClockSkew) },
	})
	return &discovered{provider: p, verifier: v, endSession: doc.EndSession}, nil
}

// Watch checks the provider at start-up and, while it cannot be used, again with a
// growing pause (up to max), so the log and /health/ready say at once whether sign-in
// can work. It returns once discovery succeeded or ctx ends. Failures are logged at
// ERROR, naming the setting when one is wrong.
func (o *OIDC) Watch(ctx context.Context, first, max time.Duration) {
	wait := first
	for {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := o.Discover(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			o.cfg.Logger.Info("OIDC provider discovered", "provider", o.cfg.Name, "issuer", o.cfg.Issuer)
			return
		}
		if !Misconfigured(err) { // misconfigurations were logged at ERROR by note
			o.cfg.Logger.Error("OIDC provider unreachable; sign-in through it fails until it answers", "provider", o.cfg.Name,
				"setting", SettingIssuer, "issuer", o.cfg.Issuer, "retry_in", wait.String(), "err", err)
		} else {
			o.cfg.Logger.Info("OIDC discovery will be retried (the setting may be fixed at the provider's side)", "provider", o.cfg.Name, "retry_in", wait.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, max)
	}
}

func (o *OIDC) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...),
	}
}

// Start returns the IdP's authorization URL and the values to keep in the session.
func (o *OIDC) Start(ctx context.Context) (string, Pending, error) {
	d, err := o.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pending := Pending{Provider: o.cfg.Name, State: RandomToken(24), Nonce: RandomToken(24), Verifier: oauth2.GenerateVerifier()}
	u := o.oauth(d.provider).AuthCodeURL(pending.State, oidc.Nonce(pending.Nonce), oauth2.S256ChallengeOption(pending.Verifier))
	return u, pending, nil
}

// EndSessionURL is where the browser goes to end the provider's session too (OpenID
// RP-Initiated Logout), or "" when the provider advertises no end_session_endpoint (or
// cannot be asked now).
func (o *OIDC) EndSessionURL(ctx context.Context, idToken, postLogoutRedirect string) string {
	d, err := o.discover(ctx)
	if err != nil || d.endSession == "" {
		return ""
	}
	q := map[string]string{"client_id": o.cfg.ClientID, "post_logout_redirect_uri": postLogoutRedirect}
	if idToken != "" {
		q["id_token_hint"] = idToken
	}
	return withQuery(d.endSession, q)
}

// authorizeErrors returned to the callback that mean the client's settings are wrong.
var authorizeErrors = map[string]string{
	"unauthorized_client":       SettingClientID,
	"invalid_client":            SettingClientID,
	"unsupported_response_type": SettingClientID,
	"invalid_scope":             SettingScopes,
}

// Finish checks state, exchanges the code (with the PKCE verifier) and verifies the ID
// token: signature, RS256/ES256 only, issuer, audience, expiry with skew, nonce, iat age.
// Name, email and groups missing from the ID token are asked of the userinfo endpoint.
func (o *OIDC) Finish(ctx context.Context, pending Pending, state, code, idpError string) (Identity, error) {
	if pending.State == "" {
		return Identity{}, &LoginError{Reason: "no_pending_login", Err: errors.New("no sign-in was started in this browser session (or it was already used)")}
	}
	if subtle.ConstantTimeCompare([]byte(pending.State), []byte(state)) != 1 {
		return Identity{}, &LoginError{Reason: "state_mismatch"}
	}
	if pending.Provider != o.cfg.Name {
		return Identity{}, &LoginError{Reason: "provider_mismatch", Err: fmt.Errorf("the sign-in was started with provider %q", pending.Provider)}
	}
	if idpError != "" {
		if setting, ok := authorizeErrors[idpError]; ok {
			err := misconfigured(setting, "the provider refused the authorization request: %s", idpError)
			o.note(err)
			return Identity{}, err
		}
		return Identity{}, &LoginError{Reason: "idp_error", Err: errors.New(idpError)}
	}
	if code == "" {
		return Identity{}, &LoginError{Reason: "missing_code"}
	}
	d, err := o.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := o.oauth(d.provider).Exchange(o.ctx(ctx), code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		err = o.exchangeError(err)
		o.note(err)
		return Identity{}, err
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, &LoginError{Reason: "invalid_token", Err: errors.New("no id_token in token response")}
	}
	idt, err := d.verifier.Verify(o.ctx(ctx), raw)
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
	o.note(nil)
	// Zitadel (and others, by default) put only the subject in the ID token: the profile
	// is at the userinfo endpoint.
	_, hasGroups := claims[o.cfg.GroupsClaim]
	if (str(claims["name"]) == "" || str(claims["email"]) == "" || str(claims["preferred_username"]) == "" || !hasGroups) &&
		d.provider.UserInfoEndpoint() != "" {
		if err := o.mergeUserInfo(ctx, d.provider, tok, idt.Subject, claims); err != nil {
			return Identity{}, err
		}
	}
	return o.identity(idt.Subject, raw, claims), nil
}

// mergeUserInfo fills the claims the ID token lacks from the userinfo endpoint. A
// userinfo failure costs the profile, not the sign-in; an answer about another subject
// is refused (OIDC Core 5.3.2).
func (o *OIDC) mergeUserInfo(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, sub string, claims map[string]any) error {
	ui, err := p.UserInfo(o.ctx(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		o.cfg.Logger.Warn("OIDC userinfo not fetched; signing in with the ID token's claims only", "provider", o.cfg.Name, "err", err)
		return nil
	}
	if ui.Subject != sub {
		return &LoginError{Reason: "invalid_token", Err: fmt.Errorf("userinfo is about subject %q, the ID token about %q", ui.Subject, sub)}
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		o.cfg.Logger.Warn("OIDC userinfo unreadable", "provider", o.cfg.Name, "err", err)
		return nil
	}
	_, overage := readGroups(claims, o.cfg.GroupsClaim)
	for _, k := range []string{"name", "email", "preferred_username", o.cfg.GroupsClaim, "_claim_names", "_claim_sources"} {
		if k == o.cfg.GroupsClaim && overage == GroupsOverage {
			continue // the groups are at the overage source (Microsoft Graph), not here
		}
		if v, ok := extra[k]; ok && !present(claims[k]) {
			claims[k] = v
		}
	}
	return nil
}

// present reports whether a claim has a value worth keeping.
func present(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(t) != ""
	}
	return true
}

// exchangeError tells a wrong client id or secret (an administrator's to fix) and a
// provider that is down (try again) from a code the provider would not redeem.
func (o *OIDC) exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return unreachable("token endpoint: %v", err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" || (re.ErrorCode == "" && status == http.StatusUnauthorized):
		return misconfigured(SettingClientSecret, "the token endpoint refused Shepherd's client credentials (%s): check %s and %s",
			orText(re.ErrorCode, fmt.Sprint(status)), SettingClientID, SettingClientSecret)
	case status >= 500 || status == http.StatusTooManyRequests:
		return unreachable("token endpoint answered %d: %v", status, err)
	}
	return &LoginError{Reason: "token_exchange_failed", Err: err}
}

func orText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (o *OIDC) identity(sub, raw string, claims map[string]any) Identity {
	// Claims are stored: an email that does not fit is dropped rather than cut (a cut
	// address is a wrong one); a name is cut at a character boundary.
	email := str(claims["email"])
	if len(email) > 320 {
		email = ""
	}
	id := Identity{Issuer: o.cfg.Key, Provider: o.cfg.Name, Subject: sub, Email: email, Name: textutil.Truncate(str(claims["name"]), 255), IDToken: raw}
	id.Groups, id.GroupsProblem = readGroups(claims, o.cfg.GroupsClaim)
	switch id.GroupsProblem {
	case GroupsOverage:
		o.cfg.Logger.Error("OIDC groups not delivered: the token carries a groups overage reference (_claim_names) instead of the groups; "+
			"the user gets only the default access. Fix in Microsoft Entra ID: App registrations → Shepherd → Token configuration → edit the groups claim → "+
			"'Groups assigned to the application', then assign the groups that matter to the application (Enterprise applications → Users and groups)",
			"provider", o.cfg.Name, "subject", sub)
	case GroupsMissing:
		o.cfg.Logger.Warn("OIDC groups not delivered: the provider sent no groups claim; the user gets only the default access. "+
			"Configure the provider to emit it, or set the claim's name", "provider", o.cfg.Name, "setting", SettingGroupsClaim, "claim", o.cfg.GroupsClaim, "subject", sub)
	case GroupsInvalid:
		o.cfg.Logger.Warn("OIDC groups claim unreadable (neither a list nor text); the user gets only the default access",
			"provider", o.cfg.Name, "setting", SettingGroupsClaim, "claim", o.cfg.GroupsClaim, "subject", sub)
	}
	id.Username = str(claims["preferred_username"])
	if id.Username == "" {
		id.Username = id.Email
	}
	if id.Username == "" {
		id.Username = id.Subject
	}
	return id
}

// str is a claim as text PostgreSQL can store (JSON strings are valid UTF-8, but may
// carry \u0000).
func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
}

// readGroups reads the groups claim as providers send it: a JSON array (Keycloak,
// Zitadel through an action, Entra ID's object ids), a single string or a comma-separated
// one. With no claim, an Entra ID overage reference (_claim_names naming the claim) is
// told apart from a provider that sends no groups at all.
func readGroups(claims map[string]any, claim string) ([]string, string) {
	v, ok := claims[claim]
	if !ok || v == nil {
		if names, ok := claims["_claim_names"].(map[string]any); ok {
			if _, over := names[claim]; over {
				return nil, GroupsOverage
			}
			if _, over := names["groups"]; over {
				return nil, GroupsOverage
			}
		}
		return nil, GroupsMissing
	}
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
			if s := str(g); s != "" {
				out = append(out, s)
			}
		}
	default:
		return nil, GroupsInvalid
	}
	return out, ""
}

// GroupCandidates are the mapping names a user's groups match. Keycloak sends full group
// paths ("/admins", "/org/admins") when its mapper's "Full group path" is on: a path
// matches a mapping written with or without the leading slash ("/admins" or "admins";
// "/org/admins" or "org/admins"), never a bare child name, which could belong to
// another parent. Entra ID sends group object ids: an id matches a mapping written in
// lower or upper case (Entra shows lower case; a pasted id may not be).
func GroupCandidates(groups []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, g := range groups {
		add(g)
		if strings.HasPrefix(g, "/") {
			add(strings.TrimPrefix(g, "/"))
		}
		if _, err := uuid.Parse(g); err == nil && len(g) == 36 {
			add(strings.ToLower(g))
			add(strings.ToUpper(g))
		}
	}
	return out
}

// withQuery adds params to raw's query.
func withQuery(raw string, params map[string]string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
