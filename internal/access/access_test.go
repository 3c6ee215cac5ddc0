package access_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/access"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

type env struct {
	t     *testing.T
	store *db.Store
	svc   *access.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	if err := seed.Base(t.Context(), store); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, svc: &access.Service{Store: store}}
}

// actor is u as a platform admin acting (its principal loaded from the database).
func (e *env) actor(u *ent.User) access.Actor {
	e.t.Helper()
	p, err := authz.Load(e.t.Context(), e.store.Ent, u.ID, u.Username)
	if err != nil {
		e.t.Fatal(err)
	}
	return access.Actor{ID: u.ID, Name: u.Username, Principal: p}
}

func (e *env) user(name string) *ent.User {
	return e.store.Ent.User.Query().Where(user.Username(name)).OnlyX(e.t.Context())
}

func (e *env) roleID(name string) uuid.UUID {
	return e.store.Ent.Role.Query().Where(role.Name(name)).OnlyIDX(e.t.Context())
}

func (e *env) newUser(name string, roleName string) *ent.User {
	ctx := e.t.Context()
	u := e.store.Ent.User.Create().SetUsername(name).SetAuthType(user.AuthTypeOidc).SetExternalID("sub-" + name).SaveX(ctx)
	if roleName != "" {
		e.store.Ent.RoleBinding.Create().SetUserID(u.ID).SetRoleID(e.roleID(roleName)).
			SetAllowedEnvironments([]string{"test", "prod"}).SetSource(rolebinding.SourceManual).ExecX(ctx)
	}
	return u
}

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

func (e *env) audited(action string) int {
	return e.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).CountX(e.t.Context())
}

func TestLastPlatformAdminCannotBeDisabledOrDemoted(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := e.user(seed.AdminUsername)
	as := e.actor(admin)
	adminBinding := e.store.Ent.RoleBinding.Query().Where(rolebinding.UserID(admin.ID)).OnlyX(ctx)

	if err := e.svc.SetDisabled(ctx, as, admin.ID, true); code(err) != access.CodeLastAdmin {
		t.Fatalf("the last admin disabling itself = %v, want %s", err, access.CodeLastAdmin)
	}
	if err := e.svc.RevokeBinding(ctx, as, admin.ID, adminBinding.ID); code(err) != access.CodeLastAdmin {
		t.Fatalf("the last admin revoking its admin role = %v, want %s", err, access.CodeLastAdmin)
	}

	// A second admin: now either may go, but not both.
	carol := e.newUser("carol", "PlatformAdmin")
	byCarol := e.actor(carol)
	if err := e.svc.SetDisabled(ctx, byCarol, admin.ID, true); err != nil {
		t.Fatalf("carol disabling admin: %v", err)
	}
	carolBinding := e.store.Ent.RoleBinding.Query().Where(rolebinding.UserID(carol.ID)).OnlyX(ctx)
	if err := e.svc.RevokeBinding(ctx, byCarol, carol.ID, carolBinding.ID); code(err) != access.CodeLastAdmin {
		t.Fatalf("carol (now the last enabled admin) revoking her role = %v", err)
	}
	if err := e.svc.SetDisabled(ctx, byCarol, carol.ID, true); code(err) != access.CodeLastAdmin {
		t.Fatalf("carol disabling herself = %v", err)
	}
	// An admin whose principal is stale (demoted a moment ago) cannot disable carol either.
	if err := e.svc.SetDisabled(ctx, as, carol.ID, true); code(err) != access.CodeLastAdmin {
		t.Fatalf("disabling the last enabled admin = %v", err)
	}
	// Enabling admin again makes carol's role revocable.
	if err := e.svc.SetDisabled(ctx, byCarol, admin.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeBinding(ctx, byCarol, carol.ID, carolBinding.ID); err != nil {
		t.Fatalf("revoking carol's admin role with another admin enabled: %v", err)
	}
	if e.audited("user.disable") != 1 || e.audited("user.enable") != 1 || e.audited("role.revoke") != 1 {
		t.Errorf("audit: disable %d enable %d revoke %d", e.audited("user.disable"), e.audited("user.enable"), e.audited("role.revoke"))
	}
	// Non-admins are refused outright.
	vic := e.newUser("victor", "Viewer")
	if err := e.svc.SetDisabled(ctx, e.actor(vic), admin.ID, true); code(err) != domain.CodeForbidden {
		t.Fatalf("a viewer disabling someone = %v", err)
	}
}

func TestDisableEndsSessionsAndRefusesSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	as := e.actor(e.user(seed.AdminUsername))
	u, secret, err := e.svc.CreateLocal(ctx, as, access.NewLocalUser{Username: "dave", DisplayName: "Dave", Email: "dave@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// A browser session of dave's.
	store := auth.NewSessionStore(e.store.Ent, bytes.Repeat([]byte("k"), 32), true, 30*time.Minute, 2*time.Hour)
	sess, err := store.New(httptest.NewRequest(http.MethodGet, "/", nil), "s")
	if err != nil {
		t.Fatal(err)
	}
	sess.Values[auth.KeyUserID] = u.ID.String()
	w := httptest.NewRecorder()
	if err := store.Save(httptest.NewRequest(http.MethodGet, "/", nil), w, sess); err != nil {
		t.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	load := func() map[any]any {
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		r.AddCookie(cookie)
		s, err := store.New(r, "s")
		if err != nil {
			t.Fatal(err)
		}
		return s.Values
	}
	if v := load(); v[auth.KeyUserID] != u.ID.String() {
		t.Fatalf("session before disabling: %v", v)
	}

	if err := e.svc.SetDisabled(ctx, as, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if n := e.store.Ent.Session.Query().Where(session.UserID(u.ID), session.RevokedAtIsNil()).CountX(ctx); n != 0 {
		t.Errorf("%d sessions still open after disabling", n)
	}
	if v := load(); v[auth.KeyUserID] != nil || v[auth.KeyDisabled] != true {
		t.Errorf("session after disabling: %v; want ended, marked disabled", v)
	}
	authSvc := &auth.Service{Store: e.store, Policy: password.Policy{Mode: "nist"}, Logger: slog.New(slog.DiscardHandler)}
	if _, err := authSvc.LoginLocal(ctx, "dave", secret, "192.0.2.1"); !errors.Is(err, auth.ErrAccountDisabled) {
		t.Errorf("sign-in of a disabled user with the right password = %v, want ErrAccountDisabled", err)
	}
	if _, err := authSvc.LoginLocal(ctx, "dave", "wrong-password", "192.0.2.1"); errors.Is(err, auth.ErrAccountDisabled) || !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("a wrong password must not reveal the account is disabled: %v", err)
	}
	a := e.store.Ent.AuditLog.Query().Where(auditlog.Action("user.disable")).OnlyX(ctx)
	if a.Details["signed_out_browsers"] != float64(1) {
		t.Errorf("audit details: %v", a.Details)
	}
	// Enabled again, the one-time password works.
	if err := e.svc.SetDisabled(ctx, as, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := authSvc.LoginLocal(ctx, "dave", secret, "192.0.2.2"); err != nil {
		t.Errorf("sign-in after enabling: %v", err)
	}
}

func TestOneTimePasswordMustBeChanged(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	as := e.actor(e.user(seed.AdminUsername))
	if _, _, err := e.svc.CreateLocal(ctx, as, access.NewLocalUser{Username: "Bad Name"}); err == nil {
		t.Fatal("an invalid username was accepted")
	}
	u, first, err := e.svc.CreateLocal(ctx, as, access.NewLocalUser{Username: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	if !u.ForcePasswordChange || len(first) != 23 || u.PasswordHash == "" || bytes.Contains([]byte(u.PasswordHash), []byte(first)) {
		t.Fatalf("new account: force %v, password %q", u.ForcePasswordChange, first)
	}
	if _, _, err := e.svc.CreateLocal(ctx, as, access.NewLocalUser{Username: "erin"}); err == nil {
		t.Fatal("a taken username was accepted")
	}
	authSvc := &auth.Service{Store: e.store, Policy: password.Policy{Mode: "nist"}, Logger: slog.New(slog.DiscardHandler)}
	signedIn, err := authSvc.LoginLocal(ctx, "erin", first, "192.0.2.1")
	if err != nil || !signedIn.ForcePasswordChange {
		t.Fatalf("first sign-in: %v, force %v", err, signedIn != nil && signedIn.ForcePasswordChange)
	}
	// She chose her own; a reset gives a new one-time password and forces a change again.
	e.store.Ent.User.UpdateOneID(u.ID).SetForcePasswordChange(false).ExecX(ctx)
	_, second, err := e.svc.ResetPassword(ctx, as, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("the reset password equals the first one")
	}
	if _, err := authSvc.LoginLocal(ctx, "erin", first, "192.0.2.3"); err == nil {
		t.Error("the old one-time password still works")
	}
	again, err := authSvc.LoginLocal(ctx, "erin", second, "192.0.2.4")
	if err != nil || !again.ForcePasswordChange {
		t.Fatalf("after reset: %v", err)
	}
	// An IdP user has no password here.
	idp := e.newUser("frank", "")
	if _, _, err := e.svc.ResetPassword(ctx, as, idp.ID); err == nil {
		t.Error("reset of an identity provider account was accepted")
	}
	if e.audited("user.create") != 1 || e.audited("user.password_reset") != 1 {
		t.Error("create and reset not audited")
	}
	rows, total, _, err := e.svc.ListUsers(ctx, as, "ERI", paging.New(1, 10, 10, 100))
	if err != nil || total != 1 || rows[0].User.Username != "erin" {
		t.Errorf("search: %d rows, %v", total, err)
	}
}

func TestCustomRoleGrantsItsPermissionsAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	as := e.actor(e.user(seed.AdminUsername))
	if _, err := e.svc.CreateRole(ctx, as, access.RoleForm{Name: "Boss", Permissions: []string{authz.PlatformAdmin}}); err == nil {
		t.Fatal("a custom role with platform:admin was accepted")
	}
	r, err := e.svc.CreateRole(ctx, as, access.RoleForm{Name: "Release manager", Permissions: []string{authz.VMRead, authz.SystemRead}})
	if err != nil {
		t.Fatal(err)
	}
	gina := e.newUser("gina", "")
	if err := e.svc.GrantRole(ctx, as, gina.ID, access.Grant{RoleID: r.ID, Environments: []string{"prod"}}); err != nil {
		t.Fatal(err)
	}
	cache := authz.NewCache(100)
	principal := func() *authz.Principal {
		u := e.store.Ent.User.GetX(ctx, gina.ID)
		p, err := cache.Principal(ctx, e.store.Ent, u)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := principal(); !p.HasIn(authz.VMRead, "prod") || p.HasIn(authz.VMRead, "test") || p.Has(authz.VMOperate) {
		t.Fatalf("after grant: %+v", p)
	}
	if _, err := e.svc.UpdateRole(ctx, as, r.ID, access.RoleForm{Name: "Release manager",
		Permissions: []string{authz.VMRead, authz.SystemRead, authz.VMOperate}}); err != nil {
		t.Fatal(err)
	}
	if p := principal(); !p.HasIn(authz.VMOperate, "prod") {
		t.Fatal("the cached principal did not see the role's new permission")
	}
	// A role in use is kept, with the number of holders in the message.
	err = e.svc.DeleteRole(ctx, as, r.ID)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeDeleteRestricted || !bytes.Contains([]byte(de.Message), []byte("1 user")) {
		t.Fatalf("deleting a role in use = %v", err)
	}
	b := e.store.Ent.RoleBinding.Query().Where(rolebinding.UserID(gina.ID)).OnlyX(ctx)
	if err := e.svc.RevokeBinding(ctx, as, gina.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if p := principal(); p.Has(authz.VMRead) {
		t.Fatal("the revoked role still applies")
	}
	if err := e.svc.DeleteRole(ctx, as, r.ID); err != nil {
		t.Fatalf("deleting a role nobody holds: %v", err)
	}
	// Built-in roles are read-only.
	if _, err := e.svc.UpdateRole(ctx, as, e.roleID("Viewer"), access.RoleForm{Name: "Viewer", Permissions: []string{authz.VMRead}}); err == nil {
		t.Fatal("a built-in role was changed")
	}
	for _, action := range []string{"role.create", "role.update", "role.delete", "role.assign", "role.revoke"} {
		if e.audited(action) != 1 {
			t.Errorf("%s audited %d times", action, e.audited(action))
		}
	}
	// Bindings from IdP group mappings are not revoked by hand.
	m := e.store.Ent.RoleBinding.Create().SetUserID(gina.ID).SetRoleID(e.roleID("Viewer")).SetSource(rolebinding.SourceIdpMapping).SaveX(ctx)
	if err := e.svc.RevokeBinding(ctx, as, gina.ID, m.ID); err == nil {
		t.Error("a binding from a group mapping was revoked by hand")
	}
}

// Two admins disabling each other at the same moment: one of them stays.
func TestAdminsDisablingEachOtherAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := e.user(seed.AdminUsername)
	carol := e.newUser("carol", "PlatformAdmin")
	byAdmin, byCarol := e.actor(admin), e.actor(carol)
	for round := 0; round < 5; round++ {
		errs := make(chan error, 2)
		go func() { errs <- e.svc.SetDisabled(ctx, byAdmin, carol.ID, true) }()
		go func() { errs <- e.svc.SetDisabled(ctx, byCarol, admin.ID, true) }()
		a, b := <-errs, <-errs
		if (a == nil) == (b == nil) {
			t.Fatalf("round %d: %v, %v; want exactly one refused", round, a, b)
		}
		if refused := map[bool]error{true: a, false: b}[a != nil]; code(refused) != access.CodeLastAdmin {
			t.Fatalf("round %d: refusal %v", round, refused)
		}
		enabled := e.store.Ent.User.Query().Where(user.Disabled(false), user.IDIn(admin.ID, carol.ID)).CountX(ctx)
		if enabled != 1 {
			t.Fatalf("round %d: %d admins enabled", round, enabled)
		}
		e.store.Ent.User.Update().Where(user.IDIn(admin.ID, carol.ID)).SetDisabled(false).ExecX(ctx)
	}
}
