package authz_test

import (
	"context"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// Every change a principal is built from bumps the user's authz_version in the same
// transaction, so the cached principal is replaced on the very next request; unchanged,
// the cache answers without loading.
func TestCachedPrincipalFollowsEveryChange(t *testing.T) {
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	c := store.Ent
	cache := authz.NewCache(100)
	alice := c.User.Create().SetUsername("alice").SaveX(ctx)
	bob := c.User.Create().SetUsername("bob").SaveX(ctx)
	operator := c.Role.Query().Where(role.Name("Operator")).OnlyX(ctx)
	shop := c.System.Create().SetName("shop").SaveX(ctx)

	// principal reads the user's row as a request does and asks the cache.
	principal := func(u *ent.User) *authz.Principal {
		t.Helper()
		p, err := cache.Principal(ctx, c, c.User.GetX(ctx, u.ID))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	misses := func() int64 { _, m := cache.Stats(); return m }
	step := func(what string, change func(), wantMiss bool, check func(*authz.Principal) bool) {
		t.Helper()
		before := misses()
		change()
		p := principal(alice)
		if missed := misses() > before; missed != wantMiss {
			t.Errorf("%s: reloaded = %v, want %v", what, missed, wantMiss)
		}
		if !check(p) {
			t.Errorf("%s: the principal does not show it", what)
		}
	}
	principal(alice)
	step("nothing changed", func() {}, false, func(p *authz.Principal) bool { return !p.Has(authz.VMCreate) })

	var binding *ent.RoleBinding
	step("a role binding granted", func() {
		binding = c.RoleBinding.Create().SetUserID(alice.ID).SetRoleID(operator.ID).SetAllowedEnvironments([]string{"test"}).SaveX(ctx)
	}, true, func(p *authz.Principal) bool {
		return p.HasIn(authz.VMCreate, "test") && !p.HasIn(authz.VMCreate, "prod")
	})
	step("its environments widened", func() {
		binding.Update().SetAllowedEnvironments([]string{"test", "prod"}).ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return p.HasIn(authz.VMCreate, "prod") })
	step("someone else's binding", func() {
		c.RoleBinding.Create().SetUserID(bob.ID).SetRoleID(operator.ID).ExecX(ctx)
	}, false, func(p *authz.Principal) bool { return true })
	step("a membership added", func() {
		c.SystemMember.Create().SetSystemID(shop.ID).SetUserID(alice.ID).SetRole("member").ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return len(p.Memberships) == 1 && p.Memberships[0].SystemName == "shop" })
	step("the System renamed", func() {
		shop.Update().SetName("shop-2").ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return p.Memberships[0].SystemName == "shop-2" })
	step("the System's description edited", func() {
		c.System.UpdateOneID(shop.ID).SetDescription("new words").ExecX(ctx)
	}, false, func(p *authz.Principal) bool { return true })
	step("a permission taken from the role", func() {
		c.Role.UpdateOne(operator).RemovePermissionIDs(authz.VMCreate).ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return !p.Has(authz.VMCreate) })
	step("the membership removed", func() {
		c.SystemMember.Delete().Where(systemmember.UserID(alice.ID)).ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return len(p.Memberships) == 0 })
	step("the binding revoked", func() {
		c.RoleBinding.Delete().Where(rolebinding.UserID(alice.ID)).ExecX(ctx)
	}, true, func(p *authz.Principal) bool { return !p.Has(authz.VMRead) })
	// A change rolled back leaves the version, and the cache, as they were.
	step("a grant rolled back", func() {
		tx, err := c.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.RoleBinding.Create().SetUserID(alice.ID).SetRoleID(operator.ID).ExecX(ctx)
		_ = tx.Rollback()
	}, false, func(p *authz.Principal) bool { return !p.Has(authz.VMRead) })
}
