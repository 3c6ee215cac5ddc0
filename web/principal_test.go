package web_test

import (
	"context"
	"net/http"
	"testing"

	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// Who is asking is cached per process, yet a membership taken away by another process
// (here: straight in the database, as another replica would) ends access on the very
// next request.
func TestRevocationTakesEffectOnTheNextRequest(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	alice := env.Client(t)
	env.LoginOIDC(t, alice, "demo-alice")
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	path := "/systems/" + shop.ID.String()
	for range 3 { // warm the cache
		if status, _, _ := env.Get(t, alice, path); status != http.StatusOK {
			t.Fatalf("alice on her System: %d", status)
		}
	}
	a := c.User.Query().Where(user.Username("alice")).OnlyX(ctx)
	c.SystemMember.Delete().Where(systemmember.SystemID(shop.ID), systemmember.UserID(a.ID)).ExecX(ctx)
	if status, _, _ := env.Get(t, alice, path); status != http.StatusNotFound {
		t.Errorf("after her membership was removed: %d, want 404", status)
	}
	c.SystemMember.Create().SetSystemID(shop.ID).SetUserID(a.ID).SetRole("member").ExecX(ctx)
	if status, _, _ := env.Get(t, alice, path); status != http.StatusOK {
		t.Errorf("after it was given back: %d, want 200", status)
	}
}
