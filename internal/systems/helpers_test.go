package systems_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// fixture is a fresh database with the demo organisation. Demo users get their global
// roles at sign-in (from IdP groups); here they are bound directly, as sign-in would.
type fixture struct {
	t     *testing.T
	store *db.Store
	m     *systems.Manager
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	ctx := t.Context()
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	if err := seed.Demo(ctx, store); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, m: &systems.Manager{Store: store}}
	f.bind("alice", "Operator", "test")
	f.bind("bob", "Approver", "test", "prod")
	f.bind("dana", "SystemAdmin", "test", "prod")
	f.bind("carol", "PlatformAdmin", "test", "prod")
	f.bind("victor", "Viewer", "test")
	return f
}

func (f *fixture) bind(username, roleName string, envs ...string) {
	f.t.Helper()
	ctx := f.t.Context()
	c := f.store.Ent
	u := c.User.Query().Where(user.Username(username)).OnlyX(ctx)
	r := c.Role.Query().Where(role.Name(roleName)).OnlyX(ctx)
	// The demo seed already gives demo users their group bindings; replace them.
	c.RoleBinding.Delete().Where(rolebinding.UserID(u.ID), rolebinding.RoleID(r.ID)).ExecX(ctx)
	c.RoleBinding.Create().SetUserID(u.ID).SetRoleID(r.ID).SetAllowedEnvironments(envs).SetSource(rolebinding.SourceManual).ExecX(ctx)
}

// actor loads the user's current permissions (call again after membership changes).
func (f *fixture) actor(username string) systems.Actor {
	f.t.Helper()
	u := f.store.Ent.User.Query().Where(user.Username(username)).OnlyX(f.t.Context())
	p, err := authz.Load(f.t.Context(), f.store.Ent, u.ID, u.Username)
	if err != nil {
		f.t.Fatal(err)
	}
	return systems.Actor{ID: u.ID, Name: u.Username, Principal: p}
}

func (f *fixture) userID(username string) uuid.UUID {
	return f.store.Ent.User.Query().Where(user.Username(username)).OnlyIDX(f.t.Context())
}

func (f *fixture) systemID(name string) uuid.UUID {
	return f.store.Ent.System.Query().Where(system.Name(name), system.DeletedAtIsNil()).OnlyIDX(f.t.Context())
}

func (f *fixture) auditRows(action string) []*ent.AuditLog {
	return f.store.Ent.AuditLog.Query().Where(auditlog.Action(action)).AllX(f.t.Context())
}

func (f *fixture) countSystems() int { return f.store.Ent.System.Query().CountX(f.t.Context()) }

// fieldError returns the message of a field in a validation error ("" when absent).
func fieldError(t *testing.T, err error, field string) string {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error on %q, got %v", field, err)
	}
	return ve.Fields[field]
}

func wantCode(t *testing.T, err error, code string) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	return de
}
