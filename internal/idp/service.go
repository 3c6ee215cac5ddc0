// Package idp manages the identity providers added in the portal and the IdP group →
// role mappings of every provider: the use cases behind the Identity providers page and
// the provider lookup sign-in uses.
package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/identityprovider"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/idpseengroup"
	"kv-shepherd.io/shepherd/ent/idpusergroups"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/secrets"
)

// Static describes the provider configured from SHEPHERD_OIDC_* settings (read-only here).
type Static struct {
	OIDC        *auth.OIDC
	Label       string
	Issuer      string
	ClientID    string
	Scopes      []string
	GroupsClaim string
}

// Service runs the identity-provider use cases. Providers added in the portal are read
// from the database on every sign-in start and callback (one indexed row), so every
// replica uses a change at once; the relying party built for a row is kept while the
// row's version is unchanged, so its discovery is not repeated.
type Service struct {
	Store       *db.Store
	Box         *secrets.Box
	Static      *Static // nil when no provider is configured from settings
	RedirectURL string
	DevMode     bool
	Logger      *slog.Logger
	// HTTPClient talks to the providers (nil: 10 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time

	mu  sync.Mutex
	rps map[string]*cachedRP
}

type cachedRP struct {
	version int
	rp      *auth.OIDC
}

// Actor is who changes providers or mappings: the audit row names them and the use case
// checks again that they are a platform admin.
type Actor = authz.Actor

func check(a Actor) error {
	return a.RequirePlatformAdmin("Identity providers are managed by platform administrators.")
}

func entry(a Actor, action, typ, id, name string, details map[string]any) audit.Entry {
	e := audit.Entry{Action: action, ActorName: a.Name, ResourceType: typ, ResourceID: id, ResourceName: name, Details: details}
	if a.ID != uuid.Nil {
		actorID := a.ID
		e.ActorID = &actorID
	}
	return e
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) client() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// ErrNoProvider: no enabled provider has that key.
var ErrNoProvider = errors.New("no such identity provider")

// RelyingParty returns the enabled provider named key ("default" is the one from
// settings), ready for Start and Finish.
func (s *Service) RelyingParty(ctx context.Context, key string) (*auth.OIDC, string, error) {
	if key == auth.DefaultProviderName {
		if s.Static == nil || s.Static.OIDC == nil {
			return nil, "", ErrNoProvider
		}
		return s.Static.OIDC, s.Static.GroupsClaim, nil
	}
	row, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Key(key), identityprovider.Enabled(true)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", ErrNoProvider
	}
	if err != nil {
		return nil, "", err
	}
	rp, err := s.rp(row)
	if err != nil {
		return nil, "", err
	}
	return rp, row.GroupsClaim, nil
}

func (s *Service) rp(row *ent.IdentityProvider) (*auth.OIDC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.rps[row.Key]; ok && c.version == row.Version {
		return c.rp, nil
	}
	secret := ""
	if row.ClientSecretSealed != "" {
		if s.Box == nil {
			return nil, errors.New("no encryption key to open the provider's client secret")
		}
		b, err := s.Box.Open(row.ClientSecretSealed)
		if err != nil {
			return nil, fmt.Errorf("client secret of identity provider %s: %w", row.Key, err)
		}
		secret = string(b)
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rp := auth.NewOIDC(auth.OIDCConfig{
		Name:         row.Key,
		Key:          row.Issuer,
		Issuer:       row.Issuer,
		ClientID:     row.ClientID,
		ClientSecret: secret,
		RedirectURL:  s.RedirectURL,
		Scopes:       row.Scopes,
		GroupsClaim:  row.GroupsClaim,
		HTTPClient:   s.client(),
		Logger:       logger.With("component", "oidc", "provider", row.Key),
	})
	if s.rps == nil {
		s.rps = map[string]*cachedRP{}
	}
	s.rps[row.Key] = &cachedRP{version: row.Version, rp: rp}
	return rp, nil
}

// Button is a provider offered on the sign-in page.
type Button struct {
	Key   string
	Label string
}

// SignInButtons are the enabled providers added in the portal, by label.
func (s *Service) SignInButtons(ctx context.Context) ([]Button, error) {
	rows, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Enabled(true)).Order(ent.Asc(identityprovider.FieldLabel)).All(ctx)
	if err != nil {
		return nil, err
	}
	var out []Button
	for _, r := range rows {
		out = append(out, Button{Key: r.Key, Label: r.Label})
	}
	return out, nil
}

// ProviderView is a provider as the admin pages show it.
type ProviderView struct {
	Row        *ent.IdentityProvider // nil for the provider from settings
	Key        string
	Label      string
	Issuer     string
	ClientID   string
	Scopes     []string
	Claim      string
	Enabled    bool
	FromConfig bool
	Status     *auth.ProviderStatus // this replica's latest discovery/sign-in outcome; nil when not used yet
	LastSignIn *time.Time
	Users      int
	// UserKey is what the provider's users are stored under (users.issuer).
	UserKey string
}

// Providers lists the provider from settings (first) and those added in the portal.
func (s *Service) Providers(ctx context.Context) ([]ProviderView, error) {
	var out []ProviderView
	if s.Static != nil {
		v, err := s.staticView(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	rows, err := s.Store.Ent.IdentityProvider.Query().Order(ent.Asc(identityprovider.FieldLabel)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		v, err := s.rowView(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Provider returns one provider by key ("default": the one from settings).
func (s *Service) Provider(ctx context.Context, key string) (ProviderView, error) {
	if key == auth.DefaultProviderName {
		if s.Static == nil {
			return ProviderView{}, domain.Errf(domain.CodeNotFound, "", "No such identity provider.")
		}
		return s.staticView(ctx)
	}
	r, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Key(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return ProviderView{}, domain.Errf(domain.CodeNotFound, "", "No such identity provider.")
	}
	if err != nil {
		return ProviderView{}, err
	}
	return s.rowView(ctx, r)
}

func (s *Service) staticView(ctx context.Context) (ProviderView, error) {
	st := s.Static
	v := ProviderView{Key: auth.DefaultProviderName, Label: st.Label, Issuer: st.Issuer, ClientID: st.ClientID, Scopes: st.Scopes,
		Claim: st.GroupsClaim, Enabled: true, FromConfig: true, UserKey: st.Issuer}
	if st.OIDC != nil {
		v.UserKey = st.OIDC.Key()
		status := st.OIDC.Status()
		v.Status = &status
		return v, s.usage(ctx, &v, v.UserKey)
	}
	return v, nil
}

func (s *Service) rowView(ctx context.Context, r *ent.IdentityProvider) (ProviderView, error) {
	v := ProviderView{Row: r, Key: r.Key, Label: r.Label, Issuer: r.Issuer, ClientID: r.ClientID, Scopes: r.Scopes, Claim: r.GroupsClaim, Enabled: r.Enabled, UserKey: r.Issuer}
	s.mu.Lock()
	if c, ok := s.rps[r.Key]; ok {
		status := c.rp.Status()
		if status.State != "unchecked" {
			v.Status = &status
		}
	}
	s.mu.Unlock()
	return v, s.usage(ctx, &v, r.Issuer)
}

// usage fills the provider's users and their latest sign-in (from the database, so it is
// the same on every replica).
func (s *Service) usage(ctx context.Context, v *ProviderView, issuer string) error {
	n, err := s.Store.Ent.User.Query().Where(user.Issuer(issuer)).Count(ctx)
	if err != nil {
		return err
	}
	v.Users = n
	last, err := s.Store.Ent.User.Query().Where(user.Issuer(issuer), user.LastLoginAtNotNil()).Order(ent.Desc(user.FieldLastLoginAt)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if last != nil {
		v.LastSignIn = last.LastLoginAt
	}
	return nil
}

// Input is the provider form.
type Input struct {
	Key          string
	Label        string
	Issuer       string
	ClientID     string
	ClientSecret string // empty on edit: keep the stored one
	Scopes       string
	GroupsClaim  string
	Version      int
}

var keyRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

func (s *Service) validate(ctx context.Context, in *Input, create bool, self uuid.UUID) error {
	in.Key = strings.TrimSpace(in.Key)
	in.Label = strings.TrimSpace(in.Label)
	in.Issuer = strings.TrimSpace(in.Issuer)
	in.ClientID = strings.TrimSpace(in.ClientID)
	in.GroupsClaim = strings.TrimSpace(in.GroupsClaim)
	f := domain.FieldErrors{}
	if create {
		switch {
		case in.Key == "":
			f.Add("key", "Enter a short name, for example corp-keycloak.")
		case !keyRe.MatchString(in.Key):
			f.Add("key", "Use 1 to 40 lower-case letters, digits and dashes, starting and ending with a letter or digit.")
		case in.Key == auth.DefaultProviderName:
			f.Add("key", "“default” names the provider configured from settings; choose another name.")
		}
	}
	if in.Label == "" {
		f.Add("label", "Enter the text of the sign-in button, for example Acme Keycloak.")
	} else if len([]rune(in.Label)) > 80 {
		f.Add("label", "Keep the button label to 80 characters.")
	}
	if p := CheckIssuerURL(in.Issuer, s.DevMode); p != "" {
		f.Add("issuer", p)
	} else if len(in.Issuer) > 500 {
		f.Add("issuer", "The issuer URL is longer than 500 characters.")
	} else if s.Static != nil && s.Static.Issuer == in.Issuer {
		f.Add("issuer", "This issuer is already configured from settings (SHEPHERD_OIDC_ISSUER).")
	}
	if in.ClientID == "" {
		f.Add("client_id", "Enter the client ID the provider gave Shepherd.")
	} else if len(in.ClientID) > 255 {
		f.Add("client_id", "The client ID is longer than 255 characters.")
	}
	if create && in.ClientSecret == "" {
		f.Add("client_secret", "Enter the client secret the provider gave Shepherd.")
	} else if len(in.ClientSecret) > 2000 {
		f.Add("client_secret", "The client secret is longer than 2000 characters.")
	}
	for _, sc := range strings.Fields(in.Scopes) {
		if len(sc) > 100 || !scopeOK(sc) {
			f.Add("scopes", "Scopes are words separated by spaces, each at most 100 characters, without quotes or backslashes.")
		}
	}
	if in.GroupsClaim == "" {
		f.Add("groups_claim", "Enter the claim the provider sends groups in (usually groups).")
	} else if len(in.GroupsClaim) > 100 {
		f.Add("groups_claim", "The claim name is longer than 100 characters.")
	}
	if _, ok := f["issuer"]; !ok {
		q := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Issuer(in.Issuer))
		if self != uuid.Nil {
			q = q.Where(identityprovider.IDNEQ(self))
		}
		taken, err := q.Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			f.Add("issuer", "Another provider already uses this issuer.")
		}
	}
	if _, ok := f["key"]; !ok && create {
		taken, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Key(in.Key)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			f.Add("key", "Another provider already has this name.")
		}
	}
	return f.Err()
}

func scopeOK(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == '"' || r == '\\' || r > 0x7e {
			return false
		}
	}
	return true
}

func scopes(in string) []string {
	out := []string{}
	for _, s := range strings.Fields(in) {
		if s != "openid" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// providerDetails is a provider in an audit row: never the secret.
func providerDetails(r *ent.IdentityProvider) map[string]any {
	return map[string]any{
		"label":        r.Label,
		"issuer":       r.Issuer,
		"client_id":    r.ClientID,
		"scopes":       r.Scopes,
		"groups_claim": r.GroupsClaim,
		"enabled":      r.Enabled,
	}
}

// Create adds a provider (enabled). The client secret is sealed with AES-256-GCM before
// it is stored; the audit row says only that one was set.
func (s *Service) Create(ctx context.Context, a Actor, in Input) (*ent.IdentityProvider, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in, true, uuid.Nil); err != nil {
		return nil, err
	}
	sealed, err := s.Box.Seal([]byte(in.ClientSecret))
	if err != nil {
		return nil, err
	}
	var out *ent.IdentityProvider
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		c := tx.Ent.IdentityProvider.Create().
			SetKey(in.Key).
			SetLabel(in.Label).
			SetIssuer(in.Issuer).
			SetClientID(in.ClientID).
			SetClientSecretSealed(sealed).
			SetScopes(scopes(in.Scopes)).
			SetGroupsClaim(in.GroupsClaim)
		if a.ID != uuid.Nil {
			c.SetCreatedBy(a.ID)
		}
		r, err := c.Save(ctx)
		if err != nil {
			return err
		}
		out = r
		d := map[string]any{"after": providerDetails(r), "client_secret": "set"}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.configure", "identity_provider", r.Key, r.Label, d))
	})
	return out, err
}

// errStale is the refusal of a change made on an older copy.
func errStale(what string) error {
	return domain.Errf(domain.CodeVMStateConflict, "", "Someone else changed this %s since you opened the page. Nothing was saved: reload to see their change, then make yours again.", what)
}

// Update changes a provider; an empty secret keeps the stored one. The version is the
// one the form was made from: a change made meanwhile refuses this one.
func (s *Service) Update(ctx context.Context, a Actor, key string, in Input) (*ent.IdentityProvider, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	cur, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Key(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, domain.Errf(domain.CodeNotFound, "", "No such identity provider.")
	}
	if err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in, false, cur.ID); err != nil {
		return nil, err
	}
	var out *ent.IdentityProvider
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		upd := tx.Ent.IdentityProvider.Update().Where(identityprovider.ID(cur.ID), identityprovider.Version(in.Version)).
			SetLabel(in.Label).
			SetIssuer(in.Issuer).
			SetClientID(in.ClientID).
			SetScopes(scopes(in.Scopes)).
			SetGroupsClaim(in.GroupsClaim).
			AddVersion(1)
		secret := "kept"
		if in.ClientSecret != "" {
			sealed, err := s.Box.Seal([]byte(in.ClientSecret))
			if err != nil {
				return err
			}
			upd.SetClientSecretSealed(sealed)
			secret = "replaced"
		}
		n, err := upd.Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale("provider")
		}
		r, err := tx.Ent.IdentityProvider.Get(ctx, cur.ID)
		if err != nil {
			return err
		}
		out = r
		d := map[string]any{"before": providerDetails(cur), "after": providerDetails(r), "client_secret": secret}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.update", "identity_provider", r.Key, r.Label, d))
	})
	return out, err
}

// SetEnabled enables or disables a provider. A disabled provider is no longer offered
// and its callbacks are refused; its users' sessions go on until they end.
func (s *Service) SetEnabled(ctx context.Context, a Actor, key string, enabled bool) (*ent.IdentityProvider, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	var out *ent.IdentityProvider
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := tx.Ent.IdentityProvider.Query().Where(identityprovider.Key(key)).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.Errf(domain.CodeNotFound, "", "No such identity provider.")
		}
		if err != nil {
			return err
		}
		if cur.Enabled == enabled {
			out = cur
			return nil
		}
		r, err := cur.Update().SetEnabled(enabled).AddVersion(1).Save(ctx)
		if err != nil {
			return err
		}
		out = r
		d := map[string]any{"before": map[string]any{"enabled": cur.Enabled}, "after": map[string]any{"enabled": enabled}}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.update", "identity_provider", r.Key, r.Label, d))
	})
	return out, err
}

// Delete removes a disabled provider with its group mappings and recorded groups. It is
// refused while the provider is enabled (disable it first, so nobody is mid-sign-in) and
// while any of its users has a live session (they would keep access through a provider
// that no longer exists: end those sessions or wait for them). Its users' accounts stay
// (they are named in the audit log), but cannot sign in any more.
func (s *Service) Delete(ctx context.Context, a Actor, key string) (*ent.IdentityProvider, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	var out *ent.IdentityProvider
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := tx.Ent.IdentityProvider.Query().Where(identityprovider.Key(key)).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.Errf(domain.CodeNotFound, "", "No such identity provider.")
		}
		if err != nil {
			return err
		}
		if cur.Enabled {
			return domain.Errf(domain.CodeDeleteRestricted, "", "Disable %s before deleting it.", cur.Label)
		}
		users, err := tx.Ent.User.Query().Where(user.Issuer(cur.Issuer)).IDs(ctx)
		if err != nil {
			return err
		}
		live, err := tx.Ent.Session.Query().Where(session.RevokedAtIsNil(), session.ExpiresAtGT(s.now()),
			session.UserIDIn(users...)).Count(ctx)
		if err != nil {
			return err
		}
		if live > 0 {
			return domain.Errf(domain.CodeDeleteRestricted, "", "%s cannot be deleted while %d session(s) of its users are open. Their sessions end when they sign out or expire.", cur.Label, live)
		}
		mappings, err := tx.Ent.IdPGroupMapping.Delete().Where(idpgroupmapping.Provider(cur.Key)).Exec(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Ent.IdPSeenGroup.Delete().Where(idpseengroup.Provider(cur.Key)).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.Ent.IdPUserGroups.Delete().Where(idpusergroups.Provider(cur.Key)).Exec(ctx); err != nil {
			return err
		}
		if err := tx.Ent.IdentityProvider.DeleteOne(cur).Exec(ctx); err != nil {
			return err
		}
		out = cur
		s.mu.Lock()
		delete(s.rps, cur.Key)
		s.mu.Unlock()
		d := map[string]any{"before": providerDetails(cur), "mappings_deleted": mappings}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.delete", "identity_provider", cur.Key, cur.Label, d))
	})
	return out, err
}

// TestDiscovery checks an issuer as "Test discovery" does.
func (s *Service) TestDiscovery(ctx context.Context, a Actor, issuer string) (DiscoveryResult, error) {
	if err := check(a); err != nil {
		return DiscoveryResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return Discover(ctx, s.client(), strings.TrimSpace(issuer), s.DevMode), nil
}

// Statuses are the providers' latest states as this replica saw them, for
// /health/ready: the one from settings, then the portal's providers used since start.
func (s *Service) Statuses() []auth.ProviderStatus {
	var out []auth.ProviderStatus
	if s.Static != nil && s.Static.OIDC != nil {
		out = append(out, s.Static.OIDC.Status())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.rps))
	for k := range s.rps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if st := s.rps[k].rp.Status(); st.State != "unchecked" {
			out = append(out, st)
		}
	}
	return out
}

// CheckAll fetches the discovery document of every enabled portal provider once (at
// start-up), so their state is known before the first sign-in; failures are logged with
// the provider's name.
func (s *Service) CheckAll(ctx context.Context) {
	rows, err := s.Store.Ent.IdentityProvider.Query().Where(identityprovider.Enabled(true)).All(ctx)
	if err != nil {
		if ctx.Err() == nil && s.Logger != nil {
			s.Logger.Error("identity providers not checked", "err", err)
		}
		return
	}
	for _, r := range rows {
		rp, err := s.rp(r)
		if err != nil {
			if s.Logger != nil {
				s.Logger.Error("identity provider unusable", "provider", r.Key, "err", err)
			}
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = rp.Discover(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && s.Logger != nil {
			s.Logger.Error("identity provider discovery failed; sign-in through it fails until it answers", "provider", r.Key, "issuer", r.Issuer, "err", err)
		}
	}
}
