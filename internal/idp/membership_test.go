package idp_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/idp"
)

// A mapping naming a System makes the group's users members at sign-in (highest role
// wins), removes the membership when the group goes, never touches one granted by hand,
// and a deleted System gives nothing and shows the row broken.
func TestMappingGivesSystemMembership(t *testing.T) {
	ctx, store, svc, a := setup(t)
	svc.Static = &idp.Static{Label: "Company SSO", Issuer: "https://sso.example.com", GroupsClaim: "groups"}
	viewer := store.Ent.Role.Query().Where(role.Name(auth.DefaultRoleName)).OnlyX(ctx)
	approver := store.Ent.Role.Query().Where(role.Name("Approver")).OnlyX(ctx)
	shop := store.Ent.System.Create().SetName("shop").SaveX(ctx)
	billing := store.Ent.System.Create().SetName("billing").SaveX(ctx)
	key := auth.DefaultProviderName

	// Validation: System and role together or neither.
	_, err := svc.CreateMapping(ctx, a, key, idp.MappingInput{Group: "devs", RoleID: viewer.ID.String(), Environments: []string{"test"},
		SystemID: shop.ID.String()})
	if f := fields(t, err); f["member_role"] == "" {
		t.Fatalf("System without role: %v", f)
	}
	_, err = svc.CreateMapping(ctx, a, key, idp.MappingInput{Group: "devs", RoleID: viewer.ID.String(), Environments: []string{"test"},
		MemberRole: "admin"})
	if f := fields(t, err); f["system"] == "" {
		t.Fatalf("role without System: %v", f)
	}
	_, err = svc.CreateMapping(ctx, a, key, idp.MappingInput{Group: "devs", RoleID: viewer.ID.String(), Environments: []string{"test"},
		SystemID: shop.ID.String(), MemberRole: "superuser"})
	if f := fields(t, err); f["member_role"] == "" {
		t.Fatalf("unknown role: %v", f)
	}

	mk := func(group string, r *ent.Role, sys *ent.System, memberRole string) *ent.IdPGroupMapping {
		t.Helper()
		m, err := svc.CreateMapping(ctx, a, key, idp.MappingInput{Group: group, RoleID: r.ID.String(), Environments: []string{"test"},
			SystemID: sys.ID.String(), MemberRole: memberRole})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mk("devs", viewer, shop, "member")
	mk("leads", approver, shop, "admin")
	billingMap := mk("finance", viewer, billing, "viewer")

	login := func(subject, name string, groups ...string) *ent.User {
		t.Helper()
		u, err := (&auth.Service{Store: store}).LoginOIDC(ctx, auth.Identity{Issuer: "https://sso.example.com", Provider: key,
			Subject: subject, Username: name, Groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	members := func(u *ent.User) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, m := range store.Ent.SystemMember.Query().Where(systemmember.UserID(u.ID)).WithSystem().AllX(ctx) {
			out[m.Edges.System.Name] = string(m.Role) + "/" + string(m.Source)
		}
		return out
	}

	erin := login("s1", "erin", "devs", "leads")
	if got := members(erin); len(got) != 1 || got["shop"] != "admin/idp_mapping" {
		t.Fatalf("highest role should win: %v", got)
	}
	// A hand-made membership of billing (granted before the mapping applies to her).
	store.Ent.SystemMember.Create().SetSystemID(billing.ID).SetUserID(erin.ID).SetRole(systemmember.RoleOwner).ExecX(ctx)
	v0 := store.Ent.User.GetX(ctx, erin.ID).AuthzVersion
	erin = login("s1", "erin", "devs", "finance")
	got := members(erin)
	if got["shop"] != "member/idp_mapping" || got["billing"] != "owner/manual" || len(got) != 2 {
		t.Fatalf("after leads left: %v (shop downgraded to member, billing kept as granted by hand)", got)
	}
	if store.Ent.User.GetX(ctx, erin.ID).AuthzVersion == v0 {
		t.Fatal("authz_version not bumped by the membership change")
	}
	last := store.Ent.AuditLog.Query().Where(auditlog.Action("user.login"), auditlog.ResourceID(erin.ID.String())).
		Order(ent.Desc(auditlog.FieldCreatedAt)).FirstX(ctx)
	if ms, _ := last.Details["memberships"].([]any); len(ms) != 1 || ms[0] != "shop: member" {
		t.Fatalf("login audit memberships: %v", last.Details["memberships"])
	}

	// The group disappears: the mapping-made membership goes; the hand-made one stays.
	erin = login("s1", "erin")
	if got := members(erin); len(got) != 1 || got["billing"] != "owner/manual" {
		t.Fatalf("after all groups left: %v", got)
	}

	// A deleted System: the row shows broken and gives nothing.
	frank := login("s2", "frank", "finance")
	if got := members(frank); got["billing"] != "viewer/idp_mapping" {
		t.Fatalf("frank: %v", got)
	}
	store.Ent.Session.Create().SetID("s-frank").SetUserID(frank.ID).SetData([]byte("x")).SetLastSeenAt(time.Now()).
		SetExpiresAt(time.Now().Add(time.Hour)).ExecX(ctx)
	store.Ent.System.UpdateOne(billing).SetDeletedAt(time.Now()).ExecX(ctx)
	g, err := svc.Grid(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(g.Mappings, func(m idp.Mapping) bool { return m.ID == billingMap.ID })
	if i < 0 || !g.Mappings[i].Broken() || g.Mappings[i].MemberRole != "viewer" {
		t.Fatalf("mapping to a deleted System: %+v", g.Mappings)
	}
	if _, err := svc.Reevaluate(ctx, a, key); err != nil {
		t.Fatal(err)
	}
	if got := members(frank); len(got) != 0 {
		t.Fatalf("deleted System still gives a membership: %v", got)
	}
	ev := store.Ent.AuditLog.Query().Where(auditlog.Action("idp.reevaluate_user"), auditlog.ResourceID(frank.ID.String())).OnlyX(ctx)
	if _, ok := ev.Details["memberships"]; !ok {
		t.Fatalf("re-evaluation audit lacks memberships: %v", ev.Details)
	}

	// Clearing the System on a row stops the membership and is audited before/after.
	shopRow := g.Mappings[slices.IndexFunc(g.Mappings, func(m idp.Mapping) bool { return m.Group == "devs" })]
	if _, err := svc.UpdateMapping(ctx, a, key, shopRow.ID, idp.MappingInput{Group: "devs", RoleID: viewer.ID.String(),
		Environments: []string{"test"}, Version: shopRow.Version}); err != nil {
		t.Fatal(err)
	}
	if m := store.Ent.IdPGroupMapping.GetX(ctx, shopRow.ID); m.SystemID != nil || m.MemberRole != nil {
		t.Fatalf("System not cleared: %+v", m)
	}
	upd := store.Ent.AuditLog.Query().Where(auditlog.Action("idp.mapping_update")).Order(ent.Desc(auditlog.FieldCreatedAt)).FirstX(ctx)
	if before, _ := upd.Details["before"].(map[string]any); before == nil || before["membership"] == nil ||
		!strings.Contains(mustJSON(before["membership"]), "shop") {
		t.Fatalf("update audit: %v", upd.Details)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
