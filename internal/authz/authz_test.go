package authz

import (
	"testing"

	"github.com/google/uuid"
)

var (
	shop     = uuid.New()
	payments = uuid.New()
)

func viewer(envs ...string) Binding {
	return Binding{Role: "Viewer", ScopeType: "global", Environments: envs, Permissions: []string{SystemRead, ServiceRead, VMRead}}
}

func operator(envs ...string) Binding {
	return Binding{Role: "Operator", ScopeType: "global", Environments: envs,
		Permissions: []string{SystemRead, ServiceRead, VMRead, VMCreate, VMOperate, VNCAccess}}
}

func TestPlatformAdminSeesEverything(t *testing.T) {
	p := NewPrincipal(uuid.New(), "root", []Binding{{Role: "PlatformAdmin", ScopeType: "global", Permissions: []string{PlatformAdmin}}}, nil)
	if got := p.Check(VMDelete, Delete, shop, EnvProd); got != Allow {
		t.Fatalf("admin: got %v", got)
	}
	if !p.HasIn(ApprovalApprove, EnvProd) || len(p.Environments(VMCreate)) != 2 {
		t.Fatal("admin must hold every permission in every environment")
	}
}

func TestMissingGlobalPermissionDenies(t *testing.T) {
	p := NewPrincipal(uuid.New(), "v", []Binding{viewer(EnvTest)}, []Membership{{SystemID: shop, Role: Owner}})
	if got := p.Check(VMCreate, Create, shop, EnvTest); got != Deny {
		t.Fatalf("viewer role creating VM: got %v, want Deny", got)
	}
}

func TestNoMembershipMeansInvisible(t *testing.T) {
	p := NewPrincipal(uuid.New(), "o", []Binding{operator(EnvTest)}, []Membership{{SystemID: shop, Role: Member}})
	if got := p.Check(VMRead, View, payments, EnvTest); got != Invisible {
		t.Fatalf("got %v, want Invisible", got)
	}
	if got := p.Check(VMRead, View, shop, EnvTest); got != Allow {
		t.Fatalf("member of shop: got %v", got)
	}
}

func TestEnvironmentFilter(t *testing.T) {
	p := NewPrincipal(uuid.New(), "o", []Binding{operator(EnvTest)}, []Membership{{SystemID: shop, Role: Owner}})
	if got := p.Check(VMRead, View, shop, EnvProd); got != Invisible {
		t.Fatalf("prod VM for test-only user: got %v, want Invisible", got)
	}
	if got := p.Check(VMCreate, Create, shop, EnvProd); got != Invisible {
		t.Fatalf("prod create for test-only user: got %v", got)
	}
	if p.HasIn(VMCreate, EnvProd) || !p.HasIn(VMCreate, EnvTest) {
		t.Fatal("HasIn ignores environments")
	}
	if envs := p.Environments(VMCreate); len(envs) != 1 || envs[0] != EnvTest {
		t.Fatalf("environments = %v", envs)
	}
}

func TestResourceRoleMatrix(t *testing.T) {
	full := Binding{Role: "SystemAdmin", ScopeType: "global", Environments: []string{EnvTest, EnvProd},
		Permissions: []string{SystemRead, SystemWrite, SystemDelete, ServiceRead, ServiceCreate, ServiceDelete, VMRead, VMCreate, VMOperate, VMDelete}}
	want := map[MemberRole]map[Action]Decision{
		Owner:  {View: Allow, Create: Allow, Update: Allow, Delete: Allow, ManageMembers: Allow, TransferOwnership: Allow},
		Admin:  {View: Allow, Create: Allow, Update: Allow, Delete: Allow, ManageMembers: Allow, TransferOwnership: Deny},
		Member: {View: Allow, Create: Allow, Update: Deny, Delete: Deny, ManageMembers: Deny, TransferOwnership: Deny},
		Viewer: {View: Allow, Create: Deny, Update: Deny, Delete: Deny, ManageMembers: Deny, TransferOwnership: Deny},
	}
	for role, actions := range want {
		p := NewPrincipal(uuid.New(), "u", []Binding{full}, []Membership{{SystemID: shop, Role: role}})
		for action, d := range actions {
			if got := p.Check(SystemWrite, action, shop, ""); got != d {
				t.Errorf("%s action %d: got %v want %v", role, action, got, d)
			}
		}
	}
}

func TestGrantRules(t *testing.T) {
	if !Owner.CanGrant(Owner) || Admin.CanGrant(Owner) || !Admin.CanGrant(Member) || Member.CanGrant(Viewer) {
		t.Fatal("grant rules wrong")
	}
}

func TestSystemScopedBindingOnlyCountsForItsSystem(t *testing.T) {
	b := operator(EnvTest)
	b.ScopeType, b.ScopeID = "system", shop.String()
	p := NewPrincipal(uuid.New(), "s", []Binding{b}, []Membership{{SystemID: shop, Role: Member}, {SystemID: payments, Role: Member}})
	if got := p.Check(VMCreate, Create, shop, EnvTest); got != Allow {
		t.Fatalf("scoped system: %v", got)
	}
	if got := p.Check(VMCreate, Create, payments, EnvTest); got == Allow {
		t.Fatal("scoped binding leaked to another system")
	}
	if p.Has(VMCreate) {
		t.Fatal("scoped binding must not count as global")
	}
}

func TestNilPrincipalIsAnonymous(t *testing.T) {
	var p *Principal
	if p.Has(VMRead) || p.IsPlatformAdmin() || p.Check(VMRead, View, shop, "") != Invisible {
		t.Fatal("anonymous must have nothing")
	}
}
