package systems_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
)

func TestCreateServiceRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop, payments := f.systemID("shop"), f.systemID("payments")
	dana := f.actor("dana")

	got, err := f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "cart", Description: "Cart"})
	if err != nil {
		t.Fatal(err)
	}
	sv := f.store.Ent.Service.GetX(ctx, uuid.MustParse(got.ID))
	if sv.SystemID != shop || sv.NextInstanceIndex != 1 || *sv.CreatedBy != dana.ID {
		t.Fatalf("service %+v", sv)
	}
	rows := f.auditRows("service.create")
	if len(rows) != 1 || rows[0].ParentID != shop.String() || rows[0].Details["system"] != "shop" {
		t.Fatalf("audit %+v", rows)
	}
	// Unique within the System only.
	_, err = f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "cart"})
	if msg := fieldError(t, err, "name"); !strings.Contains(msg, domain.CodeNameTaken) {
		t.Fatalf("duplicate: %q", msg)
	}
	if _, err := f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: payments.String(), Name: "cart"}); err != nil {
		t.Fatalf("same name in another System: %v", err)
	}
	_, err = f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "Bad_Name"})
	if msg := fieldError(t, err, "name"); !strings.Contains(msg, domain.CodeNameInvalid) {
		t.Fatalf("invalid: %q", msg)
	}

	// alice is a member of shop but Operators lack service:create.
	if _, err := f.m.CreateService(ctx, f.actor("alice"), systems.ServiceInput{SystemID: shop.String(), Name: "x"}); !systems.IsForbidden(err) {
		t.Fatalf("operator created a service: %v", err)
	}
	// With service:create she can, but only in her own System: a tampered id is refused.
	f.bind("alice", "SystemAdmin", "test")
	alice := f.actor("alice")
	choices, err := f.m.CreatableSystems(ctx, alice.Principal)
	// alice is a member of the demo Systems intranet and shop, not of payments.
	if err != nil || len(choices) != 2 || choices[0].Name != "intranet" || choices[1].Name != "shop" {
		t.Fatalf("choices %+v %v", choices, err)
	}
	before := f.store.Ent.Service.Query().CountX(ctx)
	_, err = f.m.CreateService(ctx, alice, systems.ServiceInput{SystemID: payments.String(), Name: "sneaky"})
	if msg := fieldError(t, err, "system"); msg == "" {
		t.Fatal("tampered system accepted")
	}
	if n := f.store.Ent.Service.Query().CountX(ctx); n != before {
		t.Fatalf("tampered create wrote a row")
	}
	if _, err := f.m.CreateService(ctx, alice, systems.ServiceInput{SystemID: shop.String(), Name: "search"}); err != nil {
		t.Fatalf("member create: %v", err)
	}
	// Viewers are not offered the System.
	f.bind("victor", "SystemAdmin", "test")
	if choices, _ := f.m.CreatableSystems(ctx, f.actor("victor").Principal); len(choices) != 0 {
		t.Fatalf("viewer may create in %+v", choices)
	}
}

func addVM(t *testing.T, f *fixture, svc uuid.UUID, system uuid.UUID, env vm.Environment, status vm.Status) {
	t.Helper()
	f.store.Ent.VM.Create().SetName("vm-" + uuid.NewString()[:8]).SetServiceID(svc).SetSystemID(system).
		SetNamespaceID(uuid.New()).SetNamespaceName("team-" + string(env)).SetEnvironment(env).SetClusterID(uuid.New()).
		SetInstanceIndex(1).SetInstanceSizeID(uuid.New()).SetInstanceSizeName("small").SetTemplateID(uuid.New()).
		SetTicketID(uuid.New()).SetStatus(status).SetCreatedBy(f.userID("dana")).ExecX(t.Context())
}

func TestServicePageAndDeleteRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	dana := f.actor("dana")
	got, err := f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "cart"})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(got.ID)
	addVM(t, f, id, shop, vm.EnvironmentTest, vm.StatusRUNNING)
	addVM(t, f, id, shop, vm.EnvironmentProd, vm.StatusDELETING)
	addVM(t, f, id, shop, vm.EnvironmentTest, vm.StatusDELETED)

	// victor holds vm:read in test only: the prod VM and the tombstone are not listed.
	d, err := f.m.GetService(ctx, f.actor("victor").Principal, id, systems.TabOverview, paging.Page{})
	if err != nil || d.VMsTotal != 1 || d.Rights.Edit || d.Rights.Delete {
		t.Fatalf("victor's view %+v %v", d, err)
	}
	if d, _ := f.m.GetService(ctx, dana.Principal, id, systems.TabOverview, paging.Page{}); d.VMsTotal != 2 || !d.Rights.Delete {
		t.Fatalf("dana's view total=%d rights=%+v", d.VMsTotal, d.Rights)
	}
	f.bind("bob", "Viewer", "test")
	if _, err := f.m.GetService(ctx, f.actor("bob").Principal, id, systems.TabOverview, paging.Page{}); !systems.IsNotFound(err) {
		t.Fatalf("non-member saw the service: %v", err)
	}
	if _, err := f.m.DeleteService(ctx, f.actor("alice"), id, true); !systems.IsForbidden(err) {
		t.Fatalf("member deleted: %v", err)
	}
	_, err = f.m.DeleteService(ctx, dana, id, false)
	wantCode(t, err, domain.CodeConfirmationRequired)
	_, err = f.m.DeleteService(ctx, dana, id, true)
	if e := wantCode(t, err, domain.CodeDeleteRestricted); e.Params["child_count"] != 2 {
		t.Fatalf("restricted %+v", e)
	}
	// A VM still DELETING blocks; once every VM is DELETED the Service goes.
	f.store.Ent.VM.Update().Where(vm.StatusNEQ(vm.StatusDELETED)).SetStatus(vm.StatusDELETED).ExecX(ctx)
	systemID, err := f.m.DeleteService(ctx, dana, id, true)
	if err != nil || systemID != shop {
		t.Fatalf("delete: %v", err)
	}
	if sv := f.store.Ent.Service.Query().Where(service.ID(id)).OnlyX(ctx); sv.DeletedAt == nil {
		t.Fatal("not soft-deleted")
	}
	if rows := f.auditRows("service.delete"); len(rows) != 1 || rows[0].ParentID != shop.String() {
		t.Fatalf("audit %+v", rows)
	}
	if _, err := f.m.GetService(ctx, dana.Principal, id, systems.TabOverview, paging.Page{}); !systems.IsNotFound(err) {
		t.Fatalf("deleted service shown: %v", err)
	}
	// The name can be used again in the System.
	if _, err := f.m.CreateService(ctx, dana, systems.ServiceInput{SystemID: shop.String(), Name: "cart"}); err != nil {
		t.Fatal(err)
	}
}

func TestServiceDescriptionEditAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	shop := f.systemID("shop")
	got, err := f.m.CreateService(ctx, f.actor("dana"), systems.ServiceInput{SystemID: shop.String(), Name: "cart", Description: "a"})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(got.ID)
	if err := f.m.UpdateServiceDescription(ctx, f.actor("victor"), id, "b"); !systems.IsForbidden(err) {
		t.Fatalf("viewer edit: %v", err)
	}
	if err := f.m.UpdateServiceDescription(ctx, f.actor("dana"), id, "b"); err != nil {
		t.Fatal(err)
	}
	if rows := f.auditRows("service.update"); len(rows) != 1 || rows[0].Details["old"] != "a" || rows[0].Details["new"] != "b" {
		t.Fatalf("audit %+v", rows)
	}
	d, err := f.m.GetService(ctx, f.actor("dana").Principal, id, systems.TabHistory, paging.Page{})
	if err != nil || d.HistoryTotal != 2 || d.History[0].Action != "service.update" {
		t.Fatalf("history %+v %v", d.HistoryTotal, err)
	}
}
