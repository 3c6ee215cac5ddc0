package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// RoleSummary is a role in the list: its permissions and how many people hold it.
type RoleSummary struct {
	Role    *ent.Role // with permissions
	Holders int       // distinct users with a binding
}

// Roles lists the built-in roles, then the custom ones, by name.
func (s *Service) Roles(ctx context.Context, by Actor) ([]RoleSummary, error) {
	if err := check(by); err != nil {
		return nil, err
	}
	roles, err := s.Store.Ent.Role.Query().WithPermissions().
		Order(role.ByIsBuiltin(sql.OrderDesc()), role.ByName()).All(ctx)
	if err != nil {
		return nil, err
	}
	var counts []struct {
		RoleID uuid.UUID `json:"role_id"`
		Count  int       `json:"count"`
	}
	if err := s.Store.Ent.RoleBinding.Query().GroupBy(rolebinding.FieldRoleID).
		Aggregate(func(sel *sql.Selector) string {
			return sql.As("count(DISTINCT "+sel.C(rolebinding.FieldUserID)+")", "count")
		}).
		Scan(ctx, &counts); err != nil {
		return nil, err
	}
	held := map[uuid.UUID]int{}
	for _, c := range counts {
		held[c.RoleID] = c.Count
	}
	out := make([]RoleSummary, 0, len(roles))
	for _, r := range roles {
		out = append(out, RoleSummary{Role: r, Holders: held[r.ID]})
	}
	return out, nil
}

// Role loads one role with its permissions.
func (s *Service) Role(ctx context.Context, by Actor, id uuid.UUID) (*RoleSummary, error) {
	if err := check(by); err != nil {
		return nil, err
	}
	r, err := s.Store.Ent.Role.Query().Where(role.ID(id)).WithPermissions().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, domain.Errf(domain.CodeNotFound, "", "No such role.")
	}
	if err != nil {
		return nil, err
	}
	n, err := holders(ctx, s.Store.Ent, id)
	return &RoleSummary{Role: r, Holders: n}, err
}

func holders(ctx context.Context, c *ent.Client, roleID uuid.UUID) (int, error) {
	ids, err := c.RoleBinding.Query().Where(rolebinding.RoleID(roleID)).Unique(true).
		Select(rolebinding.FieldUserID).Strings(ctx)
	return len(ids), err
}

// GrantablePermissions are the permissions a custom role may hold: all but
// platform:admin. A role with platform:admin bypasses every check, including the
// environment limits of its bindings, so a "custom" one would be a second
// PlatformAdmin under another name, invisible to the last-admin protection's readers
// and to anyone scanning for who runs the platform. PlatformAdmin is granted as itself.
func (s *Service) GrantablePermissions(ctx context.Context) ([]*ent.Permission, error) {
	all, err := s.Store.Ent.Permission.Query().All(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, p := range all {
		if p.ID != authz.PlatformAdmin {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *ent.Permission) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RoleForm is a custom role as the form sends it.
type RoleForm struct {
	Name, Description string
	Permissions       []string
}

func (s *Service) validateRole(ctx context.Context, c *ent.Client, f *RoleForm, self uuid.UUID) error {
	f.Name = strings.TrimSpace(f.Name)
	f.Description = strings.TrimSpace(f.Description)
	errs := domain.FieldErrors{}
	switch {
	case f.Name == "":
		errs.Add("name", "Enter a name for the role.")
	case len(f.Name) > 64:
		errs.Add("name", "Keep the name to 64 characters.")
	case strings.ContainsAny(f.Name, "\x00\r\n\t"):
		errs.Add("name", "The name must be one line of text.")
	default:
		taken, err := c.Role.Query().Where(role.NameEqualFold(f.Name), role.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			errs.Add("name", "A role with this name exists. Choose another.")
		}
	}
	if len(f.Description) > 1000 {
		errs.Add("description", "Keep the description to 1000 characters.")
	}
	grantable, err := s.GrantablePermissions(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, p := range grantable {
		known[p.ID] = true
	}
	var perms []string
	for _, p := range f.Permissions {
		if p == authz.PlatformAdmin {
			errs.Add("permissions", "platform:admin is not part of custom roles: grant the built-in PlatformAdmin role instead.")
			continue
		}
		if !known[p] {
			errs.Add("permissions", fmt.Sprintf("%q is not a permission. Reload the page and choose again.", p))
			continue
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	if len(perms) == 0 {
		errs.Add("permissions", "Choose at least one permission.")
	}
	slices.Sort(perms)
	f.Permissions = perms
	return errs.Err()
}

// CreateRole creates a custom role.
func (s *Service) CreateRole(ctx context.Context, by Actor, f RoleForm) (*ent.Role, error) {
	if err := check(by); err != nil {
		return nil, err
	}
	var out *ent.Role
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.validateRole(ctx, tx.Ent, &f, uuid.Nil); err != nil {
			return err
		}
		var err error
		out, err = tx.Ent.Role.Create().SetName(f.Name).SetDescription(f.Description).
			AddPermissionIDs(f.Permissions...).Save(ctx)
		if ent.IsConstraintError(err) {
			return &domain.ValidationError{Fields: domain.FieldErrors{"name": "A role with this name exists. Choose another."}}
		}
		if err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "role.create", "role", out.ID.String(), out.Name, map[string]any{
			"before": nil,
			"after":  map[string]any{"name": out.Name, "description": out.Description, "permissions": f.Permissions},
		})
	})
	return out, err
}

// UpdateRole changes a custom role; everyone holding it sees the change on their next
// request (the role_permissions trigger bumps their authz_version).
func (s *Service) UpdateRole(ctx context.Context, by Actor, id uuid.UUID, f RoleForm) (*ent.Role, error) {
	if err := check(by); err != nil {
		return nil, err
	}
	var out *ent.Role
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		r, err := lockRole(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if err := s.validateRole(ctx, tx.Ent, &f, id); err != nil {
			return err
		}
		before := permissionIDs(r)
		out, err = tx.Ent.Role.UpdateOne(r).SetName(f.Name).SetDescription(f.Description).
			ClearPermissions().AddPermissionIDs(f.Permissions...).Save(ctx)
		if ent.IsConstraintError(err) {
			return &domain.ValidationError{Fields: domain.FieldErrors{"name": "A role with this name exists. Choose another."}}
		}
		if err != nil {
			return err
		}
		var added, removed []string
		for _, p := range f.Permissions {
			if !slices.Contains(before, p) {
				added = append(added, p)
			}
		}
		for _, p := range before {
			if !slices.Contains(f.Permissions, p) {
				removed = append(removed, p)
			}
		}
		return auditAs(by, ctx, tx, "role.update", "role", r.ID.String(), out.Name, map[string]any{
			"before":  map[string]any{"name": r.Name, "description": r.Description, "permissions": before},
			"after":   map[string]any{"name": out.Name, "description": out.Description, "permissions": f.Permissions},
			"added":   added,
			"removed": removed,
		})
	})
	return out, err
}

// DeleteRole deletes a custom role nobody holds and no group mapping names.
func (s *Service) DeleteRole(ctx context.Context, by Actor, id uuid.UUID) error {
	if err := check(by); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		r, err := lockRole(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		n, err := holders(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return domain.Errf(domain.CodeDeleteRestricted, "",
				"%s is in use: %s hold it. Revoke it from them first (their pages list their roles).", r.Name, people(n))
		}
		mappings, err := tx.Ent.IdPGroupMapping.Query().Where(idpgroupmapping.RoleID(id)).Count(ctx)
		if err != nil {
			return err
		}
		if mappings > 0 {
			return domain.Errf(domain.CodeDeleteRestricted, "",
				"%s is in use by %d identity provider group mapping(s). Remove those mappings first.", r.Name, mappings)
		}
		if err := tx.Ent.Role.DeleteOne(r).Exec(ctx); err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "role.delete", "role", r.ID.String(), r.Name, map[string]any{
			"before": map[string]any{"name": r.Name, "description": r.Description, "permissions": permissionIDs(r)},
			"after":  nil,
		})
	})
}

func people(n int) string {
	if n == 1 {
		return "1 user"
	}
	return fmt.Sprintf("%d users", n)
}

// lockRole reads a custom role with its permissions for a change; built-in roles are
// read-only.
func lockRole(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.Role, error) {
	r, err := c.Role.Query().Where(role.ID(id)).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, domain.Errf(domain.CodeNotFound, "", "No such role.")
	}
	if err != nil {
		return nil, err
	}
	if r.IsBuiltin {
		return nil, domain.Errf(domain.CodeInvalidInput, "", "%s is a built-in role and cannot be changed. Create a custom role instead.", r.Name)
	}
	perms, err := r.QueryPermissions().All(ctx)
	if err != nil {
		return nil, err
	}
	r.Edges.Permissions = perms
	return r, nil
}

func permissionIDs(r *ent.Role) []string {
	out := make([]string, 0, len(r.Edges.Permissions))
	for _, p := range r.Edges.Permissions {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}
