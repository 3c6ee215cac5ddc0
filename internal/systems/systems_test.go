package systems_test

import (
	"strings"
	"sync"
	"testing"

	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
)

func TestCreateSystemMakesCreatorOwnerAndAudits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	dana := f.actor("dana")
	got, err := f.m.CreateSystem(ctx, dana, systems.SystemInput{Name: " billing ", Description: "Invoices\r\n\n"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "billing" || got.Warning != "" {
		t.Fatalf("created %+v", got)
	}
	s := f.store.Ent.System.Query().Where(system.Name("billing")).OnlyX(ctx)
	if s.Description != "Invoices" || s.CreatedBy == nil || *s.CreatedBy != dana.ID {
		t.Fatalf("system row %+v", s)
	}
	mb := f.store.Ent.SystemMember.Query().Where(systemmember.SystemID(s.ID)).AllX(ctx)
	if len(mb) != 1 || mb[0].UserID != dana.ID || mb[0].Role != systemmember.RoleOwner {
		t.Fatalf("members %+v", mb)
	}
	rows := f.auditRows("system.create")
	if len(rows) != 1 || rows[0].ResourceID != s.ID.String() || rows[0].ResourceName != "billing" ||
		rows[0].Details["description"] != "Invoices" || *rows[0].ActorID != dana.ID {
		t.Fatalf("audit %+v", rows)
	}
	// The new owner sees it at once, with every right.
	d, err := f.m.GetSystem(ctx, f.actor("dana").Principal, s.ID, systems.TabOverview, paging.Page{})
	if err != nil || d.MyRole != "owner" || !d.Rights.Delete || !d.Rights.TransferOwnership {
		t.Fatalf("detail %+v, %v", d.Rights, err)
	}
}

func TestCreateSystemIsOneTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	// A trigger that refuses this one audit row makes the last statement of the unit fail.
	for _, q := range []string{
		`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		   IF NEW.resource_name = 'boom' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_boom()`,
	} {
		if _, err := f.store.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	before := f.countSystems()
	if _, err := f.m.CreateSystem(ctx, f.actor("dana"), systems.SystemInput{Name: "boom"}); err == nil {
		t.Fatal("create succeeded although the audit row failed")
	}
	if n := f.countSystems(); n != before {
		t.Fatalf("system row left behind: %d -> %d", before, n)
	}
	if n := f.store.Ent.SystemMember.Query().Where(systemmember.HasSystemWith(system.Name("boom"))).CountX(ctx); n != 0 {
		t.Fatalf("%d owner bindings left behind", n)
	}
}

func TestCreateSystemNameRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	dana := f.actor("dana")
	before := f.countSystems()
	cases := []struct{ name, code string }{
		{"abcdefghijklmnop", domain.CodeNameTooLong},
		{"Shop", domain.CodeNameInvalid},
		{"9lives", domain.CodeNameInvalid},
		{"a--b", domain.CodeNameInvalid},
		{"admin", domain.CodeNameInvalid},
		{"kube-x", domain.CodeNameInvalid},
		{"", domain.CodeNameInvalid},
		{"shop", domain.CodeNameTaken},
	}
	for _, c := range cases {
		_, err := f.m.CreateSystem(ctx, dana, systems.SystemInput{Name: c.name})
		if msg := fieldError(t, err, "name"); !strings.Contains(msg, c.code) {
			t.Errorf("%q: message %q lacks %s", c.name, msg, c.code)
		}
	}
	_, err := f.m.CreateSystem(ctx, dana, systems.SystemInput{Name: "ok", Description: strings.Repeat("x", 20001)})
	if msg := fieldError(t, err, "description"); msg == "" {
		t.Error("oversized description accepted")
	}
	if n := f.countSystems(); n != before {
		t.Fatalf("refused creates wrote rows: %d -> %d", before, n)
	}
	got, err := f.m.CreateSystem(ctx, dana, systems.SystemInput{Name: "thirteenchars"})
	if err != nil || !strings.Contains(got.Warning, "13 characters") {
		t.Fatalf("long name: %+v %v", got, err)
	}
	st, err := f.m.CheckSystemName(ctx, dana.Principal, "payments")
	if err != nil || st.Code != domain.CodeNameTaken || st.Length != 8 {
		t.Fatalf("live check %+v %v", st, err)
	}
}

func TestConcurrentCreatesOfOneNameGiveFieldErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dana := f.actor("dana")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.m.CreateSystem(t.Context(), dana, systems.SystemInput{Name: "race"})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		if msg := fieldError(t, err, "name"); !strings.Contains(msg, domain.CodeNameTaken) {
			t.Errorf("loser got %q", msg)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want 1", ok)
	}
}

func TestCreateSystemNeedsSystemWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.m.CreateSystem(t.Context(), f.actor("alice"), systems.SystemInput{Name: "mine"})
	if !systems.IsForbidden(err) {
		t.Fatalf("alice created a System: %v", err)
	}
}

func TestVisibilityAndRights(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop, payments := f.systemID("shop"), f.systemID("payments")
	victor := f.actor("victor")
	if _, err := f.m.GetSystem(ctx, victor.Principal, shop, systems.TabOverview, paging.Page{}); err != nil {
		t.Fatalf("victor cannot see shop: %v", err)
	}
	if _, err := f.m.GetSystem(ctx, victor.Principal, payments, systems.TabOverview, paging.Page{}); !systems.IsNotFound(err) {
		t.Fatalf("victor sees payments: %v", err)
	}
	// Invisible beats forbidden: no 403 that would confirm payments exists.
	if err := f.m.UpdateSystemDescription(ctx, victor, payments, "x"); !systems.IsNotFound(err) {
		t.Fatalf("edit of invisible System: %v", err)
	}
	if err := f.m.UpdateSystemDescription(ctx, victor, shop, "x"); !systems.IsForbidden(err) {
		t.Fatalf("viewer edit: %v", err)
	}
	if err := f.m.DeleteSystem(ctx, f.actor("alice"), shop, "shop"); !systems.IsForbidden(err) {
		t.Fatalf("member delete: %v", err)
	}
	list, err := f.m.ListSystems(ctx, victor.Principal, "", paging.Page{})
	if err != nil || list.Total != 1 || list.Rows[0].Name != "shop" || list.Rows[0].MyRole != "viewer" || list.CanCreate {
		t.Fatalf("victor's list %+v %v", list, err)
	}
	list, err = f.m.ListSystems(ctx, f.actor("carol").Principal, "", paging.Page{})
	// The demo organisation has intranet, payments and shop, listed by name.
	if err != nil || list.Total != 3 || list.Rows[1].Name != "payments" || list.Rows[1].MyRole != "" {
		t.Fatalf("carol's list %+v %v", list, err)
	}
	list, err = f.m.ListSystems(ctx, f.actor("carol").Principal, "PAY", paging.Page{Number: 1, PerPage: 1})
	if err != nil || list.Total != 1 || list.Rows[0].Name != "payments" {
		t.Fatalf("search %+v %v", list, err)
	}
}

func TestUpdateDescriptionAuditsOldAndNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	old := f.store.Ent.System.GetX(ctx, shop).Description
	if err := f.m.UpdateSystemDescription(ctx, f.actor("dana"), shop, "New **text**"); err != nil {
		t.Fatal(err)
	}
	// Saving the same text again writes nothing.
	if err := f.m.UpdateSystemDescription(ctx, f.actor("dana"), shop, "New **text**\n"); err != nil {
		t.Fatal(err)
	}
	rows := f.auditRows("system.update")
	if len(rows) != 1 || rows[0].Details["old"] != old || rows[0].Details["new"] != "New **text**" {
		t.Fatalf("audit %+v", rows)
	}
}

func TestDeleteSystemRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	dana := f.actor("dana")
	shop := f.systemID("shop")
	if _, err := f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "cart"}); err != nil {
		t.Fatal(err)
	}
	err := f.m.DeleteSystem(ctx, dana, shop, "")
	wantCode(t, err, domain.CodeConfirmationRequired)
	err = f.m.DeleteSystem(ctx, dana, shop, "shopp")
	if e := wantCode(t, err, domain.CodeConfirmationMismatch); e.Params["expected"] != "shop" || e.Params["provided"] != "shopp" {
		t.Fatalf("params %+v", e.Params)
	}
	err = f.m.DeleteSystem(ctx, dana, shop, "shop")
	if e := wantCode(t, err, domain.CodeDeleteRestricted); e.Params["child_count"] != 1 || !strings.Contains(e.Message, "1 service") {
		t.Fatalf("restricted %+v", e)
	}
	svc := f.store.Ent.Service.Query().Where(service.Name("cart")).OnlyX(ctx)
	if _, err := f.m.DeleteService(ctx, dana, svc.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := f.m.DeleteSystem(ctx, dana, shop, "shop"); err != nil {
		t.Fatal(err)
	}
	if s := f.store.Ent.System.GetX(ctx, shop); s.DeletedAt == nil {
		t.Fatal("not soft-deleted")
	}
	if rows := f.auditRows("system.delete"); len(rows) != 1 || rows[0].Details["confirmation"] != "shop" {
		t.Fatalf("audit %+v", rows)
	}
	if _, err := f.m.GetSystem(ctx, f.actor("dana").Principal, shop, systems.TabOverview, paging.Page{}); !systems.IsNotFound(err) {
		t.Fatalf("deleted System still shown: %v", err)
	}
	// The name is free again among live Systems.
	if _, err := f.m.CreateSystem(ctx, dana, systems.SystemInput{Name: "shop"}); err != nil {
		t.Fatalf("reuse of a deleted name: %v", err)
	}
}
