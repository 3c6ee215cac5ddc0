package systems_test

import (
	"net/http"
	"net/url"
	"testing"

	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestMembers(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := t.Context()
	shopID := systemID(t, env, "shop")
	shop := "/systems/" + shopID.String()
	members := shop + "/members"
	dana, carol := signIn(t, env, "dana"), signIn(t, env, "carol")
	bob, victor, alice := userID(t, env, "bob").String(), userID(t, env, "victor").String(), userID(t, env, "alice").String()

	status, body := dana.get(members)
	wantStatus(t, "members", status, http.StatusOK, body)
	wantIn(t, "members", body, `data-member="alice"`, `data-member="victor"`, `data-member="dana"`,
		`data-testid="remove-alice"`, `data-testid="transfer"`)
	wantNotIn(t, "members", body, `data-testid="remove-dana"`, `data-testid="change-role-dana"`)

	// Search offers non-members only, as options for the person select.
	status, body = dana.htmx(members + "/search?q=example.com")
	wantStatus(t, "search", status, http.StatusOK, body)
	wantIn(t, "search", body, `<option value="`+bob+`">Bob Approver (bob, bob@example.com)</option>`)
	wantNotIn(t, "search", body, alice, victor)
	_, body = dana.htmx(members + "/search?q=zzz")
	wantIn(t, "no match", body, "Nobody found")

	// Add, with a refused owner grant and a tampered user id first.
	status, body, _ = dana.post(members, url.Values{"user_id": {bob}, "role": {"owner"}})
	wantStatus(t, "owner grant", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "owner grant", body, "Transfer ownership")
	status, body, _ = dana.post(members, url.Values{"user_id": {"1' OR 1=1"}, "role": {"member"}})
	wantStatus(t, "bad user", status, http.StatusUnprocessableEntity, body)
	status, body, loc := dana.post(members, url.Values{"user_id": {bob}, "role": {"admin"}})
	wantStatus(t, "add", status, http.StatusSeeOther, body)
	if loc != members {
		t.Fatalf("redirect %s", loc)
	}
	_, body = dana.get(members)
	wantIn(t, "after add", body, "Member added", `data-member="bob"`)

	// bob is admin now: he may manage members, but not the owner row nor ownership.
	bobS := signIn(t, env, "bob")
	status, body = bobS.get(members)
	wantStatus(t, "bob members", status, http.StatusOK, body)
	wantNotIn(t, "bob members", body, `data-testid="transfer"`)
	if status, _, _ := bobS.post(members+"/"+userID(t, env, "dana").String()+"/remove", nil); status != http.StatusForbidden {
		t.Fatalf("admin removed owner: %d", status)
	}
	if status, _, _ := bobS.post(shop+"/transfer", url.Values{"new_owner": {bob}}); status != http.StatusForbidden {
		t.Fatalf("admin transfer: %d", status)
	}
	status, body, _ = bobS.post(members+"/"+victor+"/role", url.Values{"role": {"member"}})
	wantStatus(t, "change role", status, http.StatusSeeOther, body)
	status, body, _ = bobS.post(members+"/"+victor+"/remove", nil)
	wantStatus(t, "remove", status, http.StatusSeeOther, body)

	// Transfer by the owner; dana stays as admin and can no longer transfer.
	status, body, _ = dana.post(shop+"/transfer", url.Values{"new_owner": {victor}})
	wantStatus(t, "transfer to non-member", status, http.StatusUnprocessableEntity, body)
	wantIn(t, "transfer to non-member", body, "must already be a member")
	status, body, _ = dana.post(shop+"/transfer", url.Values{"new_owner": {alice}})
	wantStatus(t, "transfer", status, http.StatusSeeOther, body)
	roles := map[string]systemmember.Role{}
	for _, mb := range env.App.Store.Ent.SystemMember.Query().Where(systemmember.SystemID(shopID)).WithUser().AllX(ctx) {
		roles[mb.Edges.User.Username] = mb.Role
	}
	if roles["alice"] != systemmember.RoleOwner || roles["dana"] != systemmember.RoleAdmin || roles["bob"] != systemmember.RoleAdmin {
		t.Fatalf("roles %v", roles)
	}
	if _, ok := roles["victor"]; ok {
		t.Fatal("victor not removed")
	}
	if status, _, _ := dana.post(shop+"/transfer", url.Values{"new_owner": {bob}}); status != http.StatusForbidden {
		t.Fatalf("former owner transferred: %d", status)
	}

	// The History tab lists every membership change.
	_, body = carol.get(shop + "?tab=history")
	for _, a := range []string{"role.assign", "role.update", "role.revoke", "system.transfer_ownership"} {
		wantIn(t, "history", body, `data-action="`+a+`"`)
	}
	wantIn(t, "history", body, "bob as admin", "victor: viewer → member")

	// victor, no longer a member, cannot see shop at all.
	victorS := signIn(t, env, "victor")
	if status, _ := victorS.get(shop); status != http.StatusNotFound {
		t.Fatalf("removed member still sees shop: %d", status)
	}
}
