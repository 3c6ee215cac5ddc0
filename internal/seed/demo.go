package seed

import (
	"context"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/db"
)

// DemoUser is a person of the demo organisation, signed in through the development issuer.
type DemoUser struct {
	Sub, Username, Name, Email string
	Groups                     []string
	Description                string
	Systems                    map[string]string // System name -> membership role
}

// DemoGroups map IdP groups to roles, as an admin would configure them.
var DemoGroups = []struct {
	Group, Role string
	Envs        []string
}{
	{"shepherd-platform-admins", "PlatformAdmin", []string{"test", "prod"}},
	{"shepherd-approvers", "Approver", []string{"test", "prod"}},
	{"shepherd-system-admins", "SystemAdmin", []string{"test", "prod"}},
	{"shepherd-developers", "Operator", []string{"test"}},
}

// DemoSystems are created with descriptions; members come from DemoUsers.
var DemoSystems = []struct{ Name, Description string }{
	{"shop", "The **web shop**: storefront, cart and checkout services."},
	{"payments", "Payment processing and reconciliation. Handle with care: production traffic."},
	{"intranet", "Internal tools: the **wiki** and the build farm."},
}

// DemoServices give each demo System something to request VMs for.
var DemoServices = []struct{ System, Name, Description string }{
	{"intranet", "wiki", "The company wiki."},
	{"intranet", "builds", "CI build agents."},
}

// DemoUsers cover each persona of the product.
var DemoUsers = []DemoUser{
	{Sub: "demo-alice", Username: "alice", Name: "Alice Developer", Email: "alice@example.com",
		Groups: []string{"shepherd-developers"}, Description: "Requester: Operator in test, member of Systems shop and intranet",
		Systems: map[string]string{"shop": "member", "intranet": "member"}},
	{Sub: "demo-bob", Username: "bob", Name: "Bob Approver", Email: "bob@example.com",
		Groups: []string{"shepherd-approvers"}, Description: "Approver for test and prod"},
	{Sub: "demo-dana", Username: "dana", Name: "Dana Lead", Email: "dana@example.com",
		Groups: []string{"shepherd-system-admins"}, Description: "System admin, owner of shop, payments and intranet",
		Systems: map[string]string{"shop": "owner", "payments": "owner", "intranet": "owner"}},
	{Sub: "demo-carol", Username: "carol", Name: "Carol Platform", Email: "carol@example.com",
		Groups: []string{"shepherd-platform-admins"}, Description: "Platform admin: everything, everywhere"},
	{Sub: "demo-victor", Username: "victor", Name: "Victor Viewer", Email: "victor@example.com",
		Groups: nil, Description: "No mapped group: default Viewer, test only, viewer of shop",
		Systems: map[string]string{"shop": "viewer"}},
}

// DemoIssuer is the issuer key of the demo users: the development issuer's
// (auth.DevIssuerKey), which stays the same whatever port the portal listens on.
const DemoIssuer = "urn:shepherd:dev-issuer"

// Demo seeds the demo organisation. Users are created as OIDC accounts of the development
// issuer (their roles come from group mappings at each sign-in); rows that exist are left
// alone. It is only for the development issuer: with an external issuer, seed only
// DemoCatalog (the demo group mappings would hand roles to that IdP's groups).
func Demo(ctx context.Context, store *db.Store) error {
	err := store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		c := tx.Ent
		for _, g := range DemoGroups {
			r, err := c.Role.Query().Where(role.Name(g.Role)).Only(ctx)
			if err != nil {
				return err
			}
			if err := ignoreNoRows(c.IdPGroupMapping.Create().SetGroupName(g.Group).SetRoleID(r.ID).SetAllowedEnvironments(g.Envs).
				OnConflictColumns(idpgroupmapping.FieldProvider, idpgroupmapping.FieldGroupName, idpgroupmapping.FieldRoleID).DoNothing().Exec(ctx)); err != nil {
				return err
			}
		}
		users := map[string]*ent.User{}
		for _, du := range DemoUsers {
			u, err := c.User.Query().Where(user.Issuer(DemoIssuer), user.ExternalID(du.Sub)).Only(ctx)
			if ent.IsNotFound(err) {
				u, err = c.User.Create().SetUsername(du.Username).SetDisplayName(du.Name).SetEmail(du.Email).
					SetAuthType(user.AuthTypeOidc).SetIssuer(DemoIssuer).SetExternalID(du.Sub).Save(ctx)
			}
			if err != nil {
				return err
			}
			users[du.Username] = u
			if err := demoBindings(ctx, c, u, du); err != nil {
				return err
			}
		}
		for _, ds := range DemoSystems {
			s, err := c.System.Query().Where(system.Name(ds.Name), system.DeletedAtIsNil()).Only(ctx)
			if ent.IsNotFound(err) {
				s, err = c.System.Create().SetName(ds.Name).SetDescription(ds.Description).SetCreatedBy(users["dana"].ID).Save(ctx)
			}
			if err != nil {
				return err
			}
			for _, du := range DemoUsers {
				r, ok := du.Systems[ds.Name]
				if !ok {
					continue
				}
				if err := ignoreNoRows(c.SystemMember.Create().SetSystemID(s.ID).SetUserID(users[du.Username].ID).
					SetRole(systemmember.Role(r)).OnConflictColumns(systemmember.FieldSystemID, systemmember.FieldUserID).
					DoNothing().Exec(ctx)); err != nil {
					return err
				}
			}
			for _, dsvc := range DemoServices {
				if dsvc.System != ds.Name {
					continue
				}
				exists, err := c.Service.Query().Where(service.SystemID(s.ID), service.Name(dsvc.Name), service.DeletedAtIsNil()).Exist(ctx)
				if err != nil {
					return err
				}
				if !exists {
					if err := c.Service.Create().SetSystemID(s.ID).SetName(dsvc.Name).SetDescription(dsvc.Description).
						SetCreatedBy(users["dana"].ID).Exec(ctx); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The catalogue is kept in demo_catalog.go; none of its rows depend on the users above.
	return DemoCatalog(ctx, store)
}

// demoBindings gives a demo user the role bindings their IdP groups map to, as if they had
// signed in once, so approvers are notified of requests before their first sign-in. They
// are idp_mapping bindings: the next sign-in rebuilds them from the groups anyway.
func demoBindings(ctx context.Context, c *ent.Client, u *ent.User, du DemoUser) error {
	has, err := c.RoleBinding.Query().Where(rolebinding.UserID(u.ID)).Exist(ctx)
	if err != nil || has {
		return err
	}
	type grant struct {
		role string
		envs []string
	}
	var grants []grant
	for _, g := range DemoGroups {
		for _, ug := range du.Groups {
			if ug == g.Group {
				grants = append(grants, grant{g.Role, g.Envs})
			}
		}
	}
	if len(grants) == 0 {
		grants = []grant{{"Viewer", []string{"test"}}}
	}
	for _, g := range grants {
		if err := bind(ctx, c, u, g.role, g.envs, rolebinding.SourceIdpMapping); err != nil {
			return err
		}
	}
	return nil
}
