package access

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Grant is the form granting a role by hand.
type Grant struct {
	RoleID       uuid.UUID
	Environments []string
}

// cleanEnvironments keeps test and prod, in that order, once each.
func cleanEnvironments(in []string) []string {
	var out []string
	for _, e := range []string{authz.EnvTest, authz.EnvProd} {
		if slices.Contains(in, e) {
			out = append(out, e)
		}
	}
	return out
}

// GrantRole binds a role to the user globally in the chosen environments, by hand. A
// role the user already holds by hand or from the seed gets the new environments; one
// that comes from an IdP group mapping is refused (the next sign-in would rebuild it).
func (s *Service) GrantRole(ctx context.Context, by Actor, userID uuid.UUID, g Grant) error {
	if err := check(by); err != nil {
		return err
	}
	envs := cleanEnvironments(g.Environments)
	errs := domain.FieldErrors{}
	if g.RoleID == uuid.Nil {
		errs.Add("role", "Choose a role.")
	}
	if len(envs) == 0 {
		errs.Add("environments", "Choose at least one environment.")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		u, err := lockUser(ctx, tx.Ent, userID)
		if err != nil {
			return err
		}
		// Shared lock: a concurrent delete of the role waits, then sees this holder.
		r, err := tx.Ent.Role.Query().Where(role.ID(g.RoleID)).ForShare().Only(ctx)
		if ent.IsNotFound(err) {
			return &domain.ValidationError{Fields: domain.FieldErrors{"role": "That role no longer exists. Choose another."}}
		}
		if err != nil {
			return err
		}
		existing, err := tx.Ent.RoleBinding.Query().Where(rolebinding.UserID(userID), rolebinding.RoleID(r.ID),
			rolebinding.ScopeTypeEQ(rolebinding.ScopeTypeGlobal), rolebinding.ScopeID("")).ForUpdate().Only(ctx)
		switch {
		case ent.IsNotFound(err):
			b, err := tx.Ent.RoleBinding.Create().
				SetUserID(userID).
				SetRoleID(r.ID).
				SetAllowedEnvironments(envs).
				SetSource(rolebinding.SourceManual).
				SetCreatedBy(by.ID).
				Save(ctx)
			if err != nil {
				return err
			}
			return auditAs(by, ctx, tx, "role.assign", "user", u.ID.String(), u.Username, map[string]any{
				"binding": b.ID.String(),
				"role":    r.Name,
				"before":  nil,
				"after":   map[string]any{"role": r.Name, "environments": envs, "source": "manual"},
			})
		case err != nil:
			return err
		}
		if existing.Source == rolebinding.SourceIdpMapping {
			return domain.Errf(domain.CodeInvalidInput, "role",
				"%s already holds %s through an identity provider group mapping; change the mapping instead (a grant by hand would be replaced at their next sign-in).", u.Username, r.Name)
		}
		if slices.Equal(existing.AllowedEnvironments, envs) {
			return domain.Errf(domain.CodeInvalidInput, "role", "%s already holds %s in %s.", u.Username, r.Name, EnvironmentsText(envs))
		}
		if err := tx.Ent.RoleBinding.UpdateOne(existing).SetAllowedEnvironments(envs).Exec(ctx); err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "role.assign", "user", u.ID.String(), u.Username, map[string]any{
			"binding": existing.ID.String(),
			"role":    r.Name,
			"before":  map[string]any{"role": r.Name, "environments": existing.AllowedEnvironments, "source": string(existing.Source)},
			"after":   map[string]any{"role": r.Name, "environments": envs, "source": string(existing.Source)},
		})
	})
}

// RevokeBinding removes a binding granted by hand or by the seed. Bindings from IdP group
// mappings are rebuilt at every sign-in, so they are changed through the mapping. The
// last platform administrator's admin binding stays.
func (s *Service) RevokeBinding(ctx context.Context, by Actor, userID, bindingID uuid.UUID) error {
	if err := check(by); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		u, err := lockUser(ctx, tx.Ent, userID)
		if err != nil {
			return err
		}
		b, err := tx.Ent.RoleBinding.Query().Where(rolebinding.ID(bindingID), rolebinding.UserID(userID)).
			WithRole(func(q *ent.RoleQuery) { q.WithPermissions() }).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.Errf(domain.CodeInvalidInput, "", "That role binding no longer exists (perhaps someone revoked it already).")
		}
		if err != nil {
			return err
		}
		if b.Source == rolebinding.SourceIdpMapping {
			return domain.Errf(domain.CodeInvalidInput, "",
				"%s comes from an identity provider group mapping and is rebuilt at every sign-in; change the mapping or the person's groups instead.", b.Edges.Role.Name)
		}
		if GrantsAdmin(b.Edges.Role) && !u.Disabled {
			others, err := adminsWithout(ctx, tx.Ent, uuid.Nil, b.ID)
			if err != nil {
				return err
			}
			if len(others) == 0 {
				return lastAdminMessage(u.Username, u.ID == by.ID)
			}
		}
		if err := tx.Ent.RoleBinding.DeleteOne(b).Exec(ctx); err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "role.revoke", "user", u.ID.String(), u.Username, map[string]any{
			"binding": b.ID.String(),
			"role":    b.Edges.Role.Name,
			"before":  map[string]any{"role": b.Edges.Role.Name, "environments": b.AllowedEnvironments, "source": string(b.Source)},
			"after":   nil,
		})
	})
}

// GrantsAdmin says whether the role (loaded with its permissions) holds platform:admin.
func GrantsAdmin(r *ent.Role) bool {
	if r == nil {
		return false
	}
	for _, p := range r.Edges.Permissions {
		if p.ID == authz.PlatformAdmin {
			return true
		}
	}
	return false
}

// EnvironmentsText says environments in words: "test and prod".
func EnvironmentsText(envs []string) string {
	switch len(envs) {
	case 0:
		return "no environment"
	case 1:
		return envs[0]
	}
	out := envs[0]
	for _, e := range envs[1 : len(envs)-1] {
		out += ", " + e
	}
	return out + " and " + envs[len(envs)-1]
}
