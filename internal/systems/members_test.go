package systems_test

import (
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/systems"
)

func TestMemberRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	dana, bob, alice := f.actor("dana"), f.userID("bob"), f.userID("alice")

	// The owner adds bob as admin; the grant is audited with the System scope.
	if err := f.m.AddMember(ctx, dana, shop, systems.MemberInput{UserID: bob.String(), Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	rows := f.auditRows("role.assign")
	if len(rows) != 1 || rows[0].Details["scope"] != "system:shop" || rows[0].Details["role"] != "admin" || rows[0].Details["user"] != "bob" {
		t.Fatalf("audit %+v", rows)
	}
	err := f.m.AddMember(ctx, dana, shop, systems.MemberInput{UserID: bob.String(), Role: "viewer"})
	if msg := fieldError(t, err, "user_id"); !strings.Contains(msg, "already a member") {
		t.Fatalf("duplicate add: %q", msg)
	}
	err = f.m.AddMember(ctx, dana, shop, systems.MemberInput{UserID: "not-a-uuid", Role: "viewer"})
	if msg := fieldError(t, err, "user_id"); msg == "" {
		t.Fatal("bad user id accepted")
	}

	// bob, now admin, may manage members but never hand out or touch ownership.
	bobA := f.actor("bob")
	carol := f.userID("carol")
	err = f.m.AddMember(ctx, bobA, shop, systems.MemberInput{UserID: carol.String(), Role: "owner"})
	if msg := fieldError(t, err, "role"); !strings.Contains(msg, "Transfer ownership") {
		t.Fatalf("admin granted owner: %q", msg)
	}
	err = f.m.ChangeMemberRole(ctx, bobA, shop, alice, "owner")
	if msg := fieldError(t, err, "role"); msg == "" {
		t.Fatal("admin promoted to owner")
	}
	if err := f.m.ChangeMemberRole(ctx, bobA, shop, f.userID("dana"), "viewer"); !systems.IsForbidden(err) {
		t.Fatalf("admin changed the owner row: %v", err)
	}
	if err := f.m.RemoveMember(ctx, bobA, shop, f.userID("dana")); !systems.IsForbidden(err) {
		t.Fatalf("admin removed the owner: %v", err)
	}
	if err := f.m.TransferOwnership(ctx, bobA, shop, bob.String()); !systems.IsForbidden(err) {
		t.Fatalf("admin transferred ownership: %v", err)
	}
	if err := f.m.ChangeMemberRole(ctx, bobA, shop, alice, "viewer"); err != nil {
		t.Fatal(err)
	}
	if rows := f.auditRows("role.update"); len(rows) != 1 || rows[0].Details["old_role"] != "member" || rows[0].Details["new_role"] != "viewer" {
		t.Fatalf("audit %+v", rows)
	}
	// Members and viewers cannot manage members at all.
	if _, err := f.m.ListMembers(ctx, f.actor("alice").Principal, shop); !systems.IsForbidden(err) {
		t.Fatalf("viewer listed members: %v", err)
	}
	if _, err := f.m.ListMembers(ctx, f.actor("alice").Principal, f.systemID("payments")); !systems.IsNotFound(err) {
		t.Fatalf("outsider saw members: %v", err)
	}

	// Transfer: only to a member; the old owner stays as admin.
	victorOutside := f.userID("carol")
	err = f.m.TransferOwnership(ctx, dana, shop, victorOutside.String())
	if msg := fieldError(t, err, "new_owner"); !strings.Contains(msg, "member") {
		t.Fatalf("transfer to non-member: %q", msg)
	}
	if err := f.m.TransferOwnership(ctx, dana, shop, alice.String()); err != nil {
		t.Fatal(err)
	}
	roles := map[string]systemmember.Role{}
	for _, mb := range f.store.Ent.SystemMember.Query().Where(systemmember.SystemID(shop)).WithUser().AllX(ctx) {
		roles[mb.Edges.User.Username] = mb.Role
	}
	if roles["alice"] != systemmember.RoleOwner || roles["dana"] != systemmember.RoleAdmin {
		t.Fatalf("after transfer %+v", roles)
	}
	if rows := f.auditRows("system.transfer_ownership"); len(rows) != 1 || rows[0].Details["to"] != "alice" {
		t.Fatalf("audit %+v", rows)
	}

	// The last (only) owner stays: removing or demoting the owner row is refused, even by the owner.
	aliceA := f.actor("alice")
	if err := f.m.RemoveMember(ctx, aliceA, shop, alice); !systems.IsForbidden(err) {
		t.Fatalf("owner removed herself: %v", err)
	}
	if err := f.m.ChangeMemberRole(ctx, f.actor("dana"), shop, alice, "admin"); !systems.IsForbidden(err) {
		t.Fatalf("owner demoted: %v", err)
	}
	owners := f.store.Ent.SystemMember.Query().Where(systemmember.SystemID(shop), systemmember.RoleEQ(systemmember.RoleOwner)).CountX(ctx)
	if owners != 1 {
		t.Fatalf("%d owners", owners)
	}
	if err := f.m.RemoveMember(ctx, aliceA, shop, bob); err != nil {
		t.Fatal(err)
	}
	if rows := f.auditRows("role.revoke"); len(rows) != 1 || rows[0].Details["user"] != "bob" {
		t.Fatalf("audit %+v", rows)
	}
}

func TestMemberSearchExcludesMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	got, err := f.m.SearchCandidates(ctx, f.actor("dana").Principal, shop, "EXAMPLE.com")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Username)
	}
	// alice, dana and victor are members of shop already.
	if strings.Join(names, ",") != "bob,carol" {
		t.Fatalf("candidates %v", names)
	}
	if got, _ := f.m.SearchCandidates(ctx, f.actor("dana").Principal, shop, "Bob Appr"); len(got) != 1 {
		t.Fatalf("display-name search %+v", got)
	}
	if _, err := f.m.SearchCandidates(ctx, f.actor("victor").Principal, shop, "bob"); !systems.IsForbidden(err) {
		t.Fatalf("viewer searched users: %v", err)
	}
}
