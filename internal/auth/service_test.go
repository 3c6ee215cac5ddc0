package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

const issuer = "https://idp.example.test"

// newStore returns a Store on a fresh migrated database.
func newStore(t *testing.T) *db.Store {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() }) // before testdb closes the pool
	return store
}

// newService seeds roles and the admin (and the demo group mappings when demo is set).
func newService(t *testing.T, demo bool) *auth.Service {
	t.Helper()
	store := newStore(t)
	if err := seed.Base(t.Context(), store); err != nil {
		t.Fatal(err)
	}
	if demo {
		if err := seed.Demo(t.Context(), store); err != nil {
			t.Fatal(err)
		}
	}
	return &auth.Service{Store: store, Policy: password.Policy{Mode: "nist"}, Logger: slog.New(slog.DiscardHandler)}
}

type binding struct {
	envs   []string
	source rolebinding.Source
}

// bindingsOf maps role name to the user's global binding of it.
func bindingsOf(t *testing.T, c *ent.Client, userID uuid.UUID) map[string]binding {
	t.Helper()
	bs, err := c.RoleBinding.Query().Where(rolebinding.UserID(userID)).WithRole().All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]binding{}
	for _, b := range bs {
		envs := slices.Clone(b.AllowedEnvironments)
		slices.Sort(envs)
		out[b.Edges.Role.Name] = binding{envs: envs, source: b.Source}
	}
	return out
}

func wantBindings(t *testing.T, got map[string]binding, want map[string]binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("bindings = %v, want %v", got, want)
		return
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || !slices.Equal(g.envs, w.envs) || g.source != w.source {
			t.Errorf("bindings = %v, want %v", got, want)
			return
		}
	}
}

func auditRows(t *testing.T, c *ent.Client, action, resourceName string) []*ent.AuditLog {
	t.Helper()
	rows, err := c.AuditLog.Query().Where(auditlog.Action(action), auditlog.ResourceName(resourceName)).
		Order(ent.Asc(auditlog.FieldCreatedAt)).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func getUser(t *testing.T, c *ent.Client, username string) *ent.User {
	t.Helper()
	u, err := c.User.Query().Where(user.Username(username)).Only(t.Context())
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return u
}

func TestLoginOIDCCreatesUserOnFirstLogin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, true)
	c := svc.Store.Ent
	id := auth.Identity{Issuer: issuer, Subject: "sub-erin", Username: "erin", Email: "erin@example.com", Name: "Erin",
		Groups: []string{"shepherd-developers"}}
	u, err := svc.LoginOIDC(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "erin" || u.AuthType != user.AuthTypeOidc || u.ExternalID == nil || *u.ExternalID != "sub-erin" ||
		u.Email != "erin@example.com" || u.LastLoginAt == nil {
		t.Errorf("created user = %+v", u)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{"Operator": {[]string{"test"}, rolebinding.SourceIdpMapping}})
	logins := auditRows(t, c, "user.login", "erin")
	if len(logins) != 1 || logins[0].ActorID == nil || *logins[0].ActorID != u.ID ||
		logins[0].Details["method"] != "oidc" || logins[0].Details["idp"] != issuer {
		t.Errorf("user.login audit rows = %+v", logins)
	}

	// The subject, not the username, identifies the account.
	id.Username, id.Email = "erin-renamed", "erin@new.example.com"
	again, err := svc.LoginOIDC(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != u.ID || again.Email != "erin@new.example.com" {
		t.Errorf("second login: user %s (%s), want %s with the new email", again.ID, again.Email, u.ID)
	}
	if n := c.User.Query().Where(user.ExternalID("sub-erin")).CountX(ctx); n != 1 {
		t.Errorf("%d users for subject sub-erin, want 1", n)
	}
}

func TestLoginOIDCRebuildsBindingsAtEveryLogin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, true)
	c := svc.Store.Ent
	id := auth.Identity{Issuer: issuer, Subject: "sub-frank", Username: "frank", Groups: []string{"shepherd-approvers"}}
	u, err := svc.LoginOIDC(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{"Approver": {[]string{"prod", "test"}, rolebinding.SourceIdpMapping}})

	sysAdmin := c.Role.Query().Where(role.Name("SystemAdmin")).OnlyX(ctx)
	c.RoleBinding.Create().SetUserID(u.ID).SetRoleID(sysAdmin.ID).SetAllowedEnvironments([]string{"test"}).
		SetSource(rolebinding.SourceManual).ExecX(ctx)

	id.Groups = []string{"shepherd-developers"}
	if _, err := svc.LoginOIDC(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{
		"Operator":    {[]string{"test"}, rolebinding.SourceIdpMapping},
		"SystemAdmin": {[]string{"test"}, rolebinding.SourceManual},
	})

	// Two groups mapping to roles: both bindings; losing all groups: only the default.
	id.Groups = []string{"shepherd-developers", "shepherd-approvers", "not-mapped"}
	if _, err := svc.LoginOIDC(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{
		"Operator":    {[]string{"test"}, rolebinding.SourceIdpMapping},
		"Approver":    {[]string{"prod", "test"}, rolebinding.SourceIdpMapping},
		"SystemAdmin": {[]string{"test"}, rolebinding.SourceManual},
	})
	id.Groups = nil
	if _, err := svc.LoginOIDC(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{
		"Viewer":      {[]string{"test"}, rolebinding.SourceIdpMapping},
		"SystemAdmin": {[]string{"test"}, rolebinding.SourceManual},
	})
}

func TestLoginOIDCUnmappedGroupsGetViewerInTest(t *testing.T) {
	t.Parallel()
	svc := newService(t, true)
	u, err := svc.LoginOIDC(t.Context(), auth.Identity{Issuer: issuer, Subject: "sub-gina", Username: "gina",
		Groups: []string{"some-other-team"}})
	if err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, svc.Store.Ent, u.ID), map[string]binding{"Viewer": {[]string{"test"}, rolebinding.SourceIdpMapping}})
}

func TestLoginOIDCUsernameTakenByLocalAdmin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, true)
	c := svc.Store.Ent
	before := getUser(t, c, seed.AdminUsername)

	u, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-impostor", Username: "admin", Email: "evil@example.com",
		Groups: []string{"shepherd-developers"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == before.ID || u.Username == "admin" || !strings.HasPrefix(u.Username, "admin-") {
		t.Errorf("IdP user got id %s username %q; want a new account with a suffixed name", u.ID, u.Username)
	}
	after := getUser(t, c, seed.AdminUsername)
	if after.AuthType != user.AuthTypeLocal || after.ExternalID != nil || after.Email != before.Email ||
		after.PasswordHash != before.PasswordHash || after.LastLoginAt != nil {
		t.Errorf("local admin changed: before %+v, after %+v", before, after)
	}
	wantBindings(t, bindingsOf(t, c, after.ID), map[string]binding{"PlatformAdmin": {[]string{"prod", "test"}, rolebinding.SourceSeed}})

	// The same subject signs in again to the same suffixed account.
	again, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-impostor", Username: "admin"})
	if err != nil || again.ID != u.ID || again.Username != u.Username {
		t.Errorf("second login = %v, %v; want %s (%s)", again, err, u.ID, u.Username)
	}
}

func TestLoginOIDCDisabledUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, true)
	c := svc.Store.Ent
	id := auth.Identity{Issuer: issuer, Subject: "sub-hank", Username: "hank", Groups: []string{"shepherd-developers"}}
	u, err := svc.LoginOIDC(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c.User.UpdateOneID(u.ID).SetDisabled(true).ExecX(ctx)

	got, err := svc.LoginOIDC(ctx, id)
	if !errors.Is(err, auth.ErrInvalidCredentials) || got != nil {
		t.Fatalf("LoginOIDC of a disabled user = %v, %v; want ErrInvalidCredentials", got, err)
	}
	failed := auditRows(t, c, "user.login_failed", "hank")
	if len(failed) != 1 || failed[0].Details["reason"] != "account_disabled" || failed[0].Details["method"] != "oidc" {
		t.Errorf("user.login_failed rows = %+v", failed)
	}
	if n := len(auditRows(t, c, "user.login", "hank")); n != 1 {
		t.Errorf("%d user.login rows, want only the first login's", n)
	}
}

func TestLoginLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	c := svc.Store.Ent

	u, err := svc.LoginLocal(ctx, " admin ", "admin", "192.0.2.1")
	if err != nil || u == nil || u.Username != "admin" {
		t.Fatalf("LoginLocal(admin, admin) = %v, %v", u, err)
	}
	if logins := auditRows(t, c, "user.login", "admin"); len(logins) != 1 || logins[0].Details["method"] != "local" {
		t.Errorf("user.login rows = %+v", logins)
	}
	if getUser(t, c, "admin").LastLoginAt == nil {
		t.Error("last_login_at not set")
	}

	hash, err := password.Hash("daves-Secret-9")
	if err != nil {
		t.Fatal(err)
	}
	c.User.Create().SetUsername("dave").SetAuthType(user.AuthTypeLocal).SetPasswordHash(hash).SetDisabled(true).ExecX(ctx)
	// An IdP account with that name cannot sign in with a password.
	c.User.Create().SetUsername("olga").SetAuthType(user.AuthTypeOidc).SetExternalID("sub-olga").SetPasswordHash(hash).ExecX(ctx)

	for _, tc := range []struct{ user, password, reason string }{
		{"admin", "wrong-Pass-1", "bad_password"},
		{"nobody", "nobodys-Pass-2", "unknown_user"},
		{"dave", "daves-Secret-9", "account_disabled"},
		{"olga", "daves-Secret-9", "unknown_user"},
	} {
		u, err := svc.LoginLocal(ctx, tc.user, tc.password, "192.0.2.1")
		if !errors.Is(err, auth.ErrInvalidCredentials) || u != nil {
			t.Errorf("LoginLocal(%s) = %v, %v; want ErrInvalidCredentials", tc.user, u, err)
		}
		rows := auditRows(t, c, "user.login_failed", tc.user)
		if len(rows) != 1 {
			t.Errorf("%s: %d user.login_failed rows, want 1", tc.user, len(rows))
			continue
		}
		if rows[0].Details["reason"] != tc.reason || rows[0].Details["method"] != "local" {
			t.Errorf("%s: details = %v, want reason %s", tc.user, rows[0].Details, tc.reason)
		}
		raw, _ := json.Marshal(rows[0])
		if strings.Contains(string(raw), tc.password) {
			t.Errorf("%s: audit row contains the password: %s", tc.user, raw)
		}
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	c := svc.Store.Ent
	admin := getUser(t, c, "admin")
	if !admin.ForcePasswordChange {
		t.Fatal("seeded admin must change its password")
	}
	const first, second = "first-Passphrase-1", "second-Passphrase-2"

	// Forced: the current password is not asked for.
	if problems, err := svc.ChangePassword(ctx, admin.ID, "", first, first); err != nil || problems != nil {
		t.Fatalf("forced change = %q, %v", problems, err)
	}
	admin = getUser(t, c, "admin")
	if admin.ForcePasswordChange || !password.Check(admin.PasswordHash, first) {
		t.Fatal("forced change did not store the new password and clear the flag")
	}

	for _, tc := range []struct{ name, current, next, confirm, want string }{
		{"wrong current", "admin", second, second, "current password is not correct"},
		{"no current", "", second, second, "current password is not correct"},
		{"same password", first, first, first, "different from the current"},
		{"policy", first, "short", "short", "at least 8"},
		{"mismatch", first, second, second + "x", "do not match"},
	} {
		problems, err := svc.ChangePassword(ctx, admin.ID, tc.current, tc.next, tc.confirm)
		if err != nil || !hasProblem(problems, tc.want) {
			t.Errorf("%s: problems = %q, err %v; want %q", tc.name, problems, err, tc.want)
		}
		if h := getUser(t, c, "admin").PasswordHash; h != admin.PasswordHash {
			t.Errorf("%s: the password changed", tc.name)
		}
	}

	if problems, err := svc.ChangePassword(ctx, admin.ID, first, second, second); err != nil || problems != nil {
		t.Fatalf("voluntary change = %q, %v", problems, err)
	}
	if _, err := svc.LoginLocal(ctx, "admin", second, "192.0.2.1"); err != nil {
		t.Errorf("new password does not sign in: %v", err)
	}
	if _, err := svc.LoginLocal(ctx, "admin", first, "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("old password still signs in: %v", err)
	}

	rows := auditRows(t, c, "user.password_change", "admin")
	if len(rows) != 2 || rows[0].Details["reason"] != "first_login_forced" || rows[1].Details["reason"] != "user_initiated" {
		t.Fatalf("user.password_change rows = %+v", rows)
	}
	for _, r := range rows {
		raw, _ := json.Marshal(r)
		if strings.Contains(string(raw), "Passphrase") {
			t.Errorf("audit row contains a password: %s", raw)
		}
	}

	oidcUser, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-ivy", Username: "ivy"})
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := svc.ChangePassword(ctx, oidcUser.ID, "", first, first); err != nil || !hasProblem(problems, "identity provider") {
		t.Errorf("IdP user's change = %q, %v", problems, err)
	}
}

// Logout is audited with the user as actor.
func TestLogoutIsAudited(t *testing.T) {
	t.Parallel()
	svc := newService(t, false)
	admin := getUser(t, svc.Store.Ent, "admin")
	if err := svc.Logout(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	rows := auditRows(t, svc.Store.Ent, "user.logout", "admin")
	if len(rows) != 1 || rows[0].ActorID == nil || *rows[0].ActorID != admin.ID {
		t.Errorf("user.logout rows = %+v", rows)
	}
}

func hasProblem(problems []string, part string) bool {
	for _, p := range problems {
		if strings.Contains(p, part) {
			return true
		}
	}
	return false
}

// A subject is unique only within its issuer: the same sub from two providers is two
// people, and neither signs in to the other's account.
func TestLoginOIDCKeysUsersByIssuerAndSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	a, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: "https://a.example.test", Subject: "1234", Username: "sam", Email: "sam@a.example"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: "https://b.example.test", Subject: "1234", Username: "sam", Email: "sam@b.example"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.Username == b.Username || *b.Issuer != "https://b.example.test" {
		t.Fatalf("two issuers, one sub: %s %q / %s %q", a.ID, a.Username, b.ID, b.Username)
	}
	again, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: "https://a.example.test", Subject: "1234", Username: "sam"})
	if err != nil || again.ID != a.ID || again.Email != "sam@a.example" {
		t.Fatalf("issuer a again: %v %v", again, err)
	}
	if _, err := svc.LoginOIDC(ctx, auth.Identity{Subject: "1234", Username: "sam"}); err == nil {
		t.Fatal("an identity without issuer was accepted")
	}
	if seed.DemoIssuer != auth.DevIssuerKey {
		t.Fatalf("seed.DemoIssuer %q differs from auth.DevIssuerKey %q", seed.DemoIssuer, auth.DevIssuerKey)
	}
}

// A provider that leaves out name or email (Zitadel's ID token, a userinfo failure) does
// not blank what Shepherd knows.
func TestLoginOIDCKeepsKnownProfile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	u, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-kim", Username: "kim", Email: "kim@example.com", Name: "Kim Lee"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-kim", Username: "sub-kim"})
	if err != nil || again.ID != u.ID || again.Email != "kim@example.com" || again.DisplayName != "Kim Lee" || again.Username != "kim" {
		t.Fatalf("after a login without profile: %+v %v", again, err)
	}
	renamed, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-kim", Name: "Kim Park"})
	if err != nil || renamed.DisplayName != "Kim Park" || renamed.Email != "kim@example.com" {
		t.Fatalf("a new name: %+v %v", renamed, err)
	}
}

// Keycloak's full group paths match mappings written with or without the leading slash.
func TestLoginOIDCKeycloakGroupPaths(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, true) // maps shepherd-approvers → Approver
	u, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-kc", Username: "kc",
		Groups: []string{"/shepherd-approvers", "/org/shepherd-developers"}})
	if err != nil {
		t.Fatal(err)
	}
	// /org/shepherd-developers is a child group: it does not match the top-level mapping.
	wantBindings(t, bindingsOf(t, svc.Store.Ent, u.ID), map[string]binding{"Approver": {[]string{"prod", "test"}, rolebinding.SourceIdpMapping}})
	if got := auth.GroupCandidates([]string{"/a", "/b/c", "d", "6F1C9D0E-2B4A-4A57-9D3E-0C8A1B2C3D4E"}); strings.Join(got, ",") !=
		"/a,a,/b/c,b/c,d,6F1C9D0E-2B4A-4A57-9D3E-0C8A1B2C3D4E,6f1c9d0e-2b4a-4a57-9d3e-0c8a1b2c3d4e" {
		t.Fatalf("candidates: %v", got)
	}
}

// Rows from before issuers were recorded are handed to the configured provider.
func TestAdoptUnassignedIdentities(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	c := svc.Store.Ent
	old := c.User.Create().SetUsername("old").SetAuthType(user.AuthTypeOidc).SetIssuer(auth.UnassignedIssuer).SetExternalID("sub-old").SaveX(ctx)
	n, err := auth.AdoptUnassignedIdentities(ctx, c, issuer)
	if err != nil || n != 1 {
		t.Fatalf("adopted %d %v", n, err)
	}
	u, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: issuer, Subject: "sub-old", Username: "old"})
	if err != nil || u.ID != old.ID {
		t.Fatalf("the adopted user signs in to a new account: %v %v", u, err)
	}
}

// Entra ID sends group object ids; a mapping pasted in upper case still matches.
func TestLoginOIDCEntraObjectIDs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newService(t, false)
	c := svc.Store.Ent
	r := c.Role.Query().Where(role.Name("SystemAdmin")).OnlyX(ctx)
	c.IdPGroupMapping.Create().SetGroupName("6F1C9D0E-2B4A-4A57-9D3E-0C8A1B2C3D4E").SetRoleID(r.ID).SetAllowedEnvironments([]string{"test"}).ExecX(ctx)
	u, err := svc.LoginOIDC(ctx, auth.Identity{Issuer: "https://login.microsoftonline.com/tenant/v2.0", Subject: "entra-sub", Username: "eve",
		Groups: []string{"6f1c9d0e-2b4a-4a57-9d3e-0c8a1b2c3d4e"}})
	if err != nil {
		t.Fatal(err)
	}
	wantBindings(t, bindingsOf(t, c, u.ID), map[string]binding{"SystemAdmin": {[]string{"test"}, rolebinding.SourceIdpMapping}})
}
