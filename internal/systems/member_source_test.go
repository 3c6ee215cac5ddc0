package systems_test

import (
	"testing"

	"kv-shepherd.io/shepherd/ent/systemmember"
)

// A membership an IdP group mapping made becomes hand-made once a System admin changes
// it, so the next sign-in's rebuild leaves the admin's choice alone.
func TestChangingAMappingMadeMembershipMakesItManual(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	alice := f.userID("alice")
	f.store.Ent.SystemMember.Update().Where(systemmember.SystemID(shop), systemmember.UserID(alice)).
		SetSource(systemmember.SourceIdpMapping).ExecX(ctx)
	if err := f.m.ChangeMemberRole(ctx, f.actor("dana"), shop, alice, "viewer"); err != nil {
		t.Fatal(err)
	}
	mb := f.store.Ent.SystemMember.Query().Where(systemmember.SystemID(shop), systemmember.UserID(alice)).OnlyX(ctx)
	if mb.Source != systemmember.SourceManual || mb.Role != systemmember.RoleViewer {
		t.Fatalf("after the hand change: %s/%s", mb.Role, mb.Source)
	}
}
