package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/idpseengroup"
	"kv-shepherd.io/shepherd/ent/idpusergroups"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/textutil"
)

// DefaultRoleName is bound, test only, to IdP users whose groups map to nothing.
const DefaultRoleName = "Viewer"

// ErrInvalidCredentials is the one answer for unknown users, wrong passwords and
// disabled accounts, so the login form does not reveal which it was.
var ErrInvalidCredentials = errors.New("invalid username or password")

// ErrAccountDisabled refuses the right password of a disabled account. It is an
// ErrInvalidCredentials, so callers that only know that one still refuse.
var ErrAccountDisabled = fmt.Errorf("%w: account disabled", ErrInvalidCredentials)

// DisabledMessage is what a disabled user is told at sign-in.
const DisabledMessage = "Your account is disabled. Ask a platform administrator."

// Service holds the sign-in use cases. Each owns its transaction and audits the outcome.
type Service struct {
	Store  *db.Store
	Policy password.Policy
	Logger *slog.Logger
	Now    func() time.Time
	// Throttle slows down password guessing (see throttle.go). Nil: the default policy on
	// Store, with the service's clock.
	Throttle *Throttle
}

// Throttles returns the sign-in throttle the service counts failures with.
func (s *Service) Throttles() *Throttle {
	if s.Throttle != nil {
		return s.Throttle
	}
	return &Throttle{Store: s.Store, Now: s.Now, Logger: s.Logger}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// LoginLocal checks a local account's password, from the client at clientIP. A throttled
// attempt is refused with a *ThrottledError before the password is looked at; the failure
// that starts a block returns one too (wrapping ErrInvalidCredentials).
func (s *Service) LoginLocal(ctx context.Context, username, secret, clientIP string) (*ent.User, error) {
	// Invalid UTF-8 names nobody; PostgreSQL would refuse it in the lookup (a 500).
	username = strings.ToValidUTF8(strings.TrimSpace(username), "\uFFFD")
	attempt := Attempt{Method: "local", Username: username, Address: clientIP}
	throttle := s.Throttles()
	if err := throttle.Check(ctx, attempt); err != nil {
		return nil, err
	}
	u, err := s.Store.Ent.User.Query().Where(user.Username(username), user.AuthTypeEQ(user.AuthTypeLocal)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok := password.Check(hash, secret)
	if !ok || u == nil || u.Disabled {
		reason := "bad_password"
		switch {
		case u == nil:
			reason = "unknown_user"
		case u.Disabled && ok:
			reason = "account_disabled"
		}
		s.LoginFailed(ctx, "local", username, reason)
		blocked, err := throttle.Fail(ctx, attempt)
		if err != nil {
			return nil, err
		}
		if blocked != nil {
			return nil, blocked
		}
		if reason == "account_disabled" {
			// Only with the right password: the message reveals nothing to a guesser.
			return nil, ErrAccountDisabled
		}
		return nil, ErrInvalidCredentials
	}
	if err := throttle.Succeed(ctx, attempt); err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.Ent.User.UpdateOne(u).SetLastLoginAt(s.now()).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "user.login", ActorID: &u.ID, ActorName: u.Username,
			ResourceType: "user", ResourceID: u.ID.String(), ResourceName: u.Username, Details: map[string]any{"method": "local"}})
	})
	return u, err
}

// LoginFailed audits a refused sign-in. It never fails the request it is called from.
func (s *Service) LoginFailed(ctx context.Context, method, username, reason string) {
	username = textutil.Truncate(username, 255) // whole characters, valid UTF-8: else the row is refused
	err := audit.Write(ctx, s.Store.Ent, audit.Entry{Action: "user.login_failed", ActorName: username,
		ResourceType: "user", ResourceName: username, Details: map[string]any{"method": method, "reason": reason}})
	if err != nil {
		s.Logger.Error("audit of failed login not written", "err", err)
	}
	s.Logger.Warn("sign-in refused", "method", method, "username", username, "reason", reason)
}

// CheckOIDCCallback refuses an OIDC callback from a client address that failed too often
// (a *ThrottledError), before the code is exchanged.
func (s *Service) CheckOIDCCallback(ctx context.Context, clientIP string) error {
	return s.Throttles().Check(ctx, Attempt{Method: "oidc", Address: clientIP})
}

// OIDCCallbackFailed audits a failed callback (bad state, IdP error, bad token) and counts
// it against the client address. It returns a *ThrottledError when that blocks the
// address, and an error only when the count could not be kept. Failures that are not the
// visitor's (the IdP unreachable, our own errors) are audited but not counted.
func (s *Service) OIDCCallbackFailed(ctx context.Context, clientIP, reason string) error {
	s.LoginFailed(ctx, "oidc", "", reason)
	if reason == "idp_unreachable" || reason == "internal_error" || reason == "misconfigured" {
		return nil
	}
	blocked, err := s.Throttles().Fail(ctx, Attempt{Method: "oidc", Address: clientIP})
	if err != nil {
		return err
	}
	if blocked != nil {
		return blocked
	}
	return nil
}

// LoginOIDC upserts the user by (issuer, subject) and rebuilds their IdP-mapped role
// bindings from the current groups, in one transaction. Manual and seeded bindings are
// kept. A name or email the provider did not send leaves the stored one as it is.
func (s *Service) LoginOIDC(ctx context.Context, id Identity) (*ent.User, error) {
	if id.Issuer == "" {
		return nil, errors.New("OIDC identity without an issuer")
	}
	var out *ent.User
	refusedName := id.Username
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := tx.Ent.User.Query().Where(user.Issuer(id.Issuer), user.ExternalID(id.Subject)).ForUpdate().Only(ctx)
		switch {
		case ent.IsNotFound(err):
			name, err := freeUsername(ctx, tx.Ent, id)
			if err != nil {
				return err
			}
			u, err = tx.Ent.User.Create().SetUsername(name).SetEmail(id.Email).SetDisplayName(id.Name).
				SetAuthType(user.AuthTypeOidc).SetIssuer(id.Issuer).SetExternalID(id.Subject).SetLastLoginAt(s.now()).Save(ctx)
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if u.Disabled {
				refusedName = u.Username
				return ErrInvalidCredentials
			}
			upd := u.Update().SetLastLoginAt(s.now())
			if id.Email != "" {
				upd.SetEmail(id.Email)
			}
			if id.Name != "" {
				upd.SetDisplayName(id.Name)
			}
			u, err = upd.Save(ctx)
			if err != nil {
				return err
			}
		}
		provider := id.Provider
		if provider == "" {
			provider = DefaultProviderName
		}
		mapped, members, err := RebuildBindings(ctx, tx.Ent, u.ID, provider, id.Groups)
		if err != nil {
			return err
		}
		if err := recordGroups(ctx, tx.Ent, u.ID, provider, id.Groups, s.now()); err != nil {
			return err
		}
		out = u
		details := map[string]any{"method": "oidc", "idp": id.Issuer, "groups": id.Groups, "roles": mapped, "memberships": members}
		if id.GroupsProblem != "" {
			details["groups_problem"] = id.GroupsProblem
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "user.login", ActorID: &u.ID, ActorName: u.Username,
			ResourceType: "user", ResourceID: u.ID.String(), ResourceName: u.Username, Details: details})
	})
	if errors.Is(err, ErrInvalidCredentials) {
		s.LoginFailed(ctx, "oidc", refusedName, "account_disabled")
	}
	return out, err
}

// AdoptUnassignedIdentities gives the IdP users recorded before issuers were (migration
// 0020 marked them UnassignedIssuer) to the provider configured now, whose users they
// were. It returns how many rows it changed.
func AdoptUnassignedIdentities(ctx context.Context, client *ent.Client, key string) (int, error) {
	if key == "" {
		return 0, nil
	}
	return client.User.Update().Where(user.Issuer(UnassignedIssuer)).SetIssuer(key).Save(ctx)
}

// DefaultProviderName names the provider configured from settings (also the development
// issuer) in sign-in state and in group mappings.
const DefaultProviderName = "default"

// RebuildBindings replaces the user's IdP-mapped role bindings with those the provider's
// group mappings give groups, in the caller's transaction, and rebuilds the System
// memberships the mappings make (see rebuildMemberships). Mappings to a role that no
// longer exists are skipped (the Identity providers page shows them as broken). It returns
// the roles bound and the memberships held from mappings ("System: role"), for the audit.
func RebuildBindings(ctx context.Context, tx *ent.Client, userID uuid.UUID, provider string, groups []string) ([]string, []string, error) {
	if _, err := tx.RoleBinding.Delete().Where(rolebinding.UserID(userID), rolebinding.SourceEQ(rolebinding.SourceIdpMapping)).Exec(ctx); err != nil {
		return nil, nil, err
	}
	var mappings []*ent.IdPGroupMapping
	if len(groups) > 0 {
		var err error
		mappings, err = tx.IdPGroupMapping.Query().Where(idpgroupmapping.Provider(provider), idpgroupmapping.GroupNameIn(GroupCandidates(groups)...)).All(ctx)
		if err != nil {
			return nil, nil, err
		}
		var roleIDs []uuid.UUID
		for _, m := range mappings {
			roleIDs = append(roleIDs, m.RoleID)
		}
		existing, err := tx.Role.Query().Where(role.IDIn(roleIDs...)).IDs(ctx)
		if err != nil {
			return nil, nil, err
		}
		live := map[uuid.UUID]bool{}
		for _, id := range existing {
			live[id] = true
		}
		kept := mappings[:0]
		for _, m := range mappings {
			if live[m.RoleID] {
				kept = append(kept, m)
			}
		}
		mappings = kept
	}
	// Several groups may map to one role: merge their environments into one binding.
	envs := map[uuid.UUID]map[string]bool{}
	var order []uuid.UUID
	for _, m := range mappings {
		if envs[m.RoleID] == nil {
			envs[m.RoleID] = map[string]bool{}
			order = append(order, m.RoleID)
		}
		for _, e := range m.AllowedEnvironments {
			envs[m.RoleID][e] = true
		}
	}
	if len(order) == 0 {
		viewer, err := tx.Role.Query().Where(role.Name(DefaultRoleName)).Only(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("default role %s missing: %w", DefaultRoleName, err)
		}
		order = []uuid.UUID{viewer.ID}
		envs[viewer.ID] = map[string]bool{"test": true}
	}
	var names []string
	for _, roleID := range order {
		var list []string
		for _, e := range []string{"prod", "test"} {
			if envs[roleID][e] {
				list = append(list, e)
			}
		}
		err := tx.RoleBinding.Create().SetUserID(userID).SetRoleID(roleID).SetAllowedEnvironments(list).
			SetSource(rolebinding.SourceIdpMapping).
			OnConflictColumns(rolebinding.FieldUserID, rolebinding.FieldRoleID, rolebinding.FieldScopeType, rolebinding.FieldScopeID).
			DoNothing().Exec(ctx)
		if err != nil && !isNoRows(err) {
			return nil, nil, err
		}
		r, err := tx.Role.Get(ctx, roleID)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, r.Name)
	}
	members, err := rebuildMemberships(ctx, tx, userID, mappings)
	if err != nil {
		return nil, nil, err
	}
	return names, members, nil
}

// memberRank orders System membership roles: a higher rank wins when several mappings
// name the same System.
var memberRank = map[systemmember.Role]int{
	systemmember.RoleViewer: 1,
	systemmember.RoleMember: 2,
	systemmember.RoleAdmin:  3,
	systemmember.RoleOwner:  4,
}

// rebuildMemberships makes the user's mapping-made System memberships those the mappings
// give: the highest role per System, Systems deleted meanwhile skipped. A membership
// granted by hand is never changed or removed (it stays as it is even when a mapping
// names the same System); mapping-made ones no longer backed are removed.
func rebuildMemberships(ctx context.Context, tx *ent.Client, userID uuid.UUID, mappings []*ent.IdPGroupMapping) ([]string, error) {
	want := map[uuid.UUID]systemmember.Role{}
	for _, m := range mappings {
		if m.SystemID == nil || m.MemberRole == nil {
			continue
		}
		r := systemmember.Role(*m.MemberRole)
		if memberRank[r] > memberRank[want[*m.SystemID]] {
			want[*m.SystemID] = r
		}
	}
	names := map[uuid.UUID]string{}
	if len(want) > 0 {
		ids := make([]uuid.UUID, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		live, err := tx.System.Query().Where(system.IDIn(ids...), system.DeletedAtIsNil()).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, sy := range live {
			names[sy.ID] = sy.Name
		}
		for id := range want {
			if _, ok := names[id]; !ok {
				delete(want, id)
			}
		}
	}
	have, err := tx.SystemMember.Query().Where(systemmember.UserID(userID)).All(ctx)
	if err != nil {
		return nil, err
	}
	held := map[uuid.UUID]bool{}
	for _, m := range have {
		held[m.SystemID] = true
		if m.Source != systemmember.SourceIdpMapping {
			delete(want, m.SystemID) // hand-made: left as it is
			continue
		}
		r, ok := want[m.SystemID]
		switch {
		case !ok:
			if err := tx.SystemMember.DeleteOne(m).Exec(ctx); err != nil {
				return nil, err
			}
		case r != m.Role:
			if err := tx.SystemMember.UpdateOne(m).SetRole(r).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	for id, r := range want {
		if held[id] {
			continue
		}
		err := tx.SystemMember.Create().SetSystemID(id).SetUserID(userID).SetRole(r).SetSource(systemmember.SourceIdpMapping).Exec(ctx)
		if err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(want))
	for id, r := range want {
		out = append(out, names[id]+": "+string(r))
	}
	slices.Sort(out)
	return out, nil
}

// recordGroups keeps what this sign-in delivered: the user's groups (for re-evaluation)
// and the provider's groups seen recently (offered in the mapping grid).
func recordGroups(ctx context.Context, tx *ent.Client, userID uuid.UUID, provider string, groups []string, now time.Time) error {
	if groups == nil {
		groups = []string{}
	}
	err := tx.IdPUserGroups.Create().SetID(userID).SetProvider(provider).SetGroups(groups).SetSignedInAt(now).
		OnConflictColumns(idpusergroups.FieldID).UpdateNewValues().Exec(ctx)
	if err != nil {
		return err
	}
	for i, g := range groups {
		if i >= 200 { // enough to pick from; a sign-in never writes without bound
			break
		}
		if len(g) > 255 {
			continue
		}
		err := tx.IdPSeenGroup.Create().SetProvider(provider).SetGroupName(g).SetFirstSeenAt(now).SetLastSeenAt(now).
			OnConflictColumns(idpseengroup.FieldProvider, idpseengroup.FieldGroupName).
			Update(func(u *ent.IdPSeenGroupUpsert) { u.SetLastSeenAt(now) }).Exec(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

// freeUsername picks the IdP's preferred name, or a suffixed one when a different account
// (for example the local admin) already uses it.
func freeUsername(ctx context.Context, client *ent.Client, id Identity) (string, error) {
	name := textutil.Truncate(id.Username, 200)
	taken, err := client.User.Query().Where(user.Username(name)).Exist(ctx)
	if err != nil || !taken {
		return name, err
	}
	h := sha256.Sum256([]byte(id.Issuer + "\x00" + id.Subject))
	return name + "-" + hex.EncodeToString(h[:3]), nil
}

// ChangePassword sets a new password for a local account. When the change is forced (first
// login) the current password was just proven at sign-in and is not asked again.
func (s *Service) ChangePassword(ctx context.Context, userID uuid.UUID, current, next, confirm string) ([]string, error) {
	u, err := s.Store.Ent.User.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.AuthType != user.AuthTypeLocal {
		return []string{"Your password is managed by your identity provider."}, nil
	}
	forced := u.ForcePasswordChange
	// The current password counts against the account's sign-in throttle: a borrowed
	// session must not become a way to guess it.
	attempt := Attempt{Method: "password_change", Username: u.Username}
	throttle := s.Throttles()
	if !forced {
		if err := throttle.Check(ctx, attempt); err != nil {
			return nil, err
		}
		if !password.Check(u.PasswordHash, current) {
			blocked, err := throttle.Fail(ctx, attempt)
			if err != nil {
				return nil, err
			}
			if blocked != nil {
				return nil, blocked
			}
			return []string{"The current password is not correct."}, nil
		}
		if err := throttle.Succeed(ctx, attempt); err != nil {
			return nil, err
		}
	}
	if problems := s.Policy.Validate(u.Username, next, confirm); len(problems) > 0 {
		return problems, nil
	}
	if password.Check(u.PasswordHash, next) {
		return []string{"Choose a password different from the current one."}, nil
	}
	hash, err := password.Hash(next)
	if err != nil {
		return nil, err
	}
	reason := "user_initiated"
	if forced {
		reason = "first_login_forced"
	}
	return nil, s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.Ent.User.UpdateOneID(userID).SetPasswordHash(hash).SetForcePasswordChange(false).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "user.password_change", ActorID: &u.ID, ActorName: u.Username,
			ResourceType: "user", ResourceID: u.ID.String(), ResourceName: u.Username, Details: map[string]any{"reason": reason}})
	})
}

// Logout audits the end of a session.
func (s *Service) Logout(ctx context.Context, u *ent.User) error {
	return audit.Write(ctx, s.Store.Ent, audit.Entry{Action: "user.logout", ActorID: &u.ID, ActorName: u.Username,
		ResourceType: "user", ResourceID: u.ID.String(), ResourceName: u.Username})
}
