package seed_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth/password"
	a "kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func newStore(t *testing.T) *db.Store {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() }) // before testdb closes the pool
	return store
}

func counts(t *testing.T, store *db.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"permissions", "roles", "role_permissions", "users", "role_bindings",
		"idp_group_mappings", "systems", "system_members"} {
		var n int
		if err := store.SQL.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func run(t *testing.T, store *db.Store, fn func(context.Context, *db.Store) error) {
	t.Helper()
	if err := fn(t.Context(), store); err != nil {
		t.Fatal(err)
	}
}

func rolePermissions(t *testing.T, c *ent.Client) map[string][]string {
	t.Helper()
	roles, err := c.Role.Query().WithPermissions().All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range roles {
		if !r.IsBuiltin {
			t.Errorf("role %s is not marked built-in", r.Name)
		}
		ids := []string{}
		for _, p := range r.Edges.Permissions {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		out[r.Name] = ids
	}
	return out
}

func TestBaseIsIdempotent(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	run(t, store, seed.Base)
	first := counts(t, store)
	want := map[string]int{"permissions": len(seed.Permissions), "roles": len(seed.BuiltinRoles), "users": 1, "role_bindings": 1}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("after Base: %d %s, want %d", first[k], k, v)
		}
	}
	run(t, store, seed.Base)
	if second := counts(t, store); !maps.Equal(first, second) {
		t.Errorf("second Base changed row counts: %v -> %v", first, second)
	}
}

func TestBaseRoles(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	run(t, store, seed.Base)
	got := rolePermissions(t, store.Ent)

	if !slices.Contains(got["PlatformAdmin"], a.PlatformAdmin) {
		t.Errorf("PlatformAdmin permissions %v lack %s", got["PlatformAdmin"], a.PlatformAdmin)
	}
	if want := []string{a.ServiceRead, a.SystemRead, a.VMRead}; !slices.Equal(got["Viewer"], want) {
		t.Errorf("Viewer permissions = %v, want exactly %v", got["Viewer"], want)
	}
	for name, perms := range got {
		if name != "PlatformAdmin" && slices.Contains(perms, a.PlatformAdmin) {
			t.Errorf("role %s holds %s", name, a.PlatformAdmin)
		}
		for _, p := range perms {
			if strings.Contains(p, "*") {
				t.Errorf("role %s holds wildcard permission %q", name, p)
			}
		}
	}
	for _, r := range seed.BuiltinRoles {
		want := slices.Clone(r.Permissions)
		slices.Sort(want)
		if !slices.Equal(got[r.Name], want) {
			t.Errorf("role %s permissions = %v, want %v", r.Name, got[r.Name], want)
		}
	}
	perms := store.Ent.Permission.Query().AllX(t.Context())
	for _, p := range perms {
		if strings.Contains(p.ID, "*") {
			t.Errorf("wildcard permission %q seeded", p.ID)
		}
	}
}

func TestBaseAdmin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t)
	run(t, store, seed.Base)
	admin := store.Ent.User.Query().Where(user.Username(seed.AdminUsername)).OnlyX(ctx)
	if admin.AuthType != user.AuthTypeLocal || !admin.ForcePasswordChange || admin.Disabled {
		t.Errorf("admin = %+v; want a local, enabled account that must change its password", admin)
	}
	if !password.Check(admin.PasswordHash, "admin") {
		t.Error("admin's first password is not \"admin\"")
	}
	bs := store.Ent.RoleBinding.Query().Where(rolebinding.UserID(admin.ID)).WithRole().AllX(ctx)
	if len(bs) != 1 {
		t.Fatalf("admin has %d bindings, want 1", len(bs))
	}
	b := bs[0]
	envs := slices.Sorted(slices.Values(b.AllowedEnvironments))
	if b.Edges.Role.Name != "PlatformAdmin" || b.Source != rolebinding.SourceSeed || b.ScopeType != rolebinding.ScopeTypeGlobal ||
		!slices.Equal(envs, []string{"prod", "test"}) {
		t.Errorf("admin binding = role %s source %s scope %s envs %v", b.Edges.Role.Name, b.Source, b.ScopeType, envs)
	}
}

func TestBaseKeepsAdminChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t)
	run(t, store, seed.Base)
	hash, err := password.Hash("a-Changed-Password-1")
	if err != nil {
		t.Fatal(err)
	}
	store.Ent.User.Update().Where(user.Username(seed.AdminUsername)).
		SetPasswordHash(hash).SetForcePasswordChange(false).ExecX(ctx)
	store.Ent.Role.Update().Where(role.Name("Viewer")).SetDescription("Edited by an admin").ExecX(ctx)
	store.Ent.Permission.UpdateOneID(a.VMRead).SetDescription("Edited too").ExecX(ctx)

	run(t, store, seed.Base)

	admin := store.Ent.User.Query().Where(user.Username(seed.AdminUsername)).OnlyX(ctx)
	if admin.PasswordHash != hash || admin.ForcePasswordChange {
		t.Error("Base reset the admin's password")
	}
	if d := store.Ent.Role.Query().Where(role.Name("Viewer")).OnlyX(ctx).Description; d != "Edited by an admin" {
		t.Errorf("Viewer description = %q after Base, want the edited one", d)
	}
	if d := store.Ent.Permission.GetX(ctx, a.VMRead).Description; d != "Edited too" {
		t.Errorf("permission description = %q after Base, want the edited one", d)
	}
}

func TestDemoIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t)
	run(t, store, seed.Base)
	run(t, store, seed.Demo)
	first := counts(t, store)
	memberships := 0
	for _, u := range seed.DemoUsers {
		memberships += len(u.Systems)
	}
	want := map[string]int{"users": 1 + len(seed.DemoUsers), "systems": len(seed.DemoSystems),
		"system_members": memberships, "idp_group_mappings": len(seed.DemoGroups)}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("after Demo: %d %s, want %d", first[k], k, v)
		}
	}
	run(t, store, seed.Demo)
	if second := counts(t, store); !maps.Equal(first, second) {
		t.Errorf("second Demo changed row counts: %v -> %v", first, second)
	}
	for _, du := range seed.DemoUsers {
		u := store.Ent.User.Query().Where(user.ExternalID(du.Sub)).OnlyX(ctx)
		if u.Username != du.Username || u.AuthType != user.AuthTypeOidc {
			t.Errorf("demo user %s = %s (%s)", du.Sub, u.Username, u.AuthType)
		}
	}
}

func TestRenamedAdminIsNotRecreated(t *testing.T) {
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Ent.User.Update().Where(user.Username(seed.AdminUsername)).SetUsername("root-admin").Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Ent.User.Query().Where(user.Username(seed.AdminUsername)).Count(ctx); err != nil || n != 0 {
		t.Fatalf("a fresh admin/admin came back after a rename: %d %v", n, err)
	}
}
