package access

import (
	"context"
	"slices"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
)

// UserRow is one user in the list.
type UserRow struct {
	User  *ent.User
	Roles []string // role names of their bindings, sorted
}

// ListUsers returns the page of users whose username, name or email contains query
// (case-insensitive), by username, and how many match.
func (s *Service) ListUsers(ctx context.Context, by Actor, query string, p paging.Page) ([]UserRow, int, paging.Page, error) {
	if err := check(by); err != nil {
		return nil, 0, p, err
	}
	q := s.Store.Ent.User.Query()
	if query = strings.TrimSpace(query); query != "" {
		q = q.Where(user.Or(user.UsernameContainsFold(query), user.DisplayNameContainsFold(query), user.EmailContainsFold(query)))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, p, err
	}
	p = p.Within(total)
	users, err := q.Order(user.ByUsername(), user.ByID()).Offset(p.Offset()).Limit(p.Limit()).
		WithRoleBindings(func(q *ent.RoleBindingQuery) { q.WithRole() }).All(ctx)
	if err != nil {
		return nil, 0, p, err
	}
	rows := make([]UserRow, 0, len(users))
	for _, u := range users {
		r := UserRow{User: u}
		for _, b := range u.Edges.RoleBindings {
			if b.Edges.Role != nil && !slices.Contains(r.Roles, b.Edges.Role.Name) {
				r.Roles = append(r.Roles, b.Edges.Role.Name)
			}
		}
		slices.Sort(r.Roles)
		rows = append(rows, r)
	}
	return rows, total, p, nil
}

// UserDetail is everything the user's page shows.
type UserDetail struct {
	User        *ent.User
	Bindings    []*ent.RoleBinding // with their role (and its permissions)
	Memberships []*ent.SystemMember
	Sessions    []*ent.Session // active ones, most recently seen first
	IsAdmin     bool
	LastAdmin   bool // the only enabled platform admin
	Roles       []*ent.Role
}

// User loads a user's page.
func (s *Service) User(ctx context.Context, by Actor, id uuid.UUID) (*UserDetail, error) {
	if err := check(by); err != nil {
		return nil, err
	}
	c := s.Store.Ent
	u, err := c.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, domain.Errf(domain.CodeNotFound, "", "No such user.")
	}
	if err != nil {
		return nil, err
	}
	d := &UserDetail{User: u}
	if d.Bindings, err = c.RoleBinding.Query().Where(rolebinding.UserID(id)).
		WithRole(func(q *ent.RoleQuery) { q.WithPermissions() }).Order(rolebinding.ByCreatedAt()).All(ctx); err != nil {
		return nil, err
	}
	if d.Memberships, err = c.SystemMember.Query().Where(systemmember.UserID(id), systemmember.HasSystemWith(system.DeletedAtIsNil())).
		WithSystem().All(ctx); err != nil {
		return nil, err
	}
	slices.SortFunc(d.Memberships, func(a, b *ent.SystemMember) int { return strings.Compare(a.Edges.System.Name, b.Edges.System.Name) })
	if d.Sessions, err = c.Session.Query().Where(session.UserID(id), session.RevokedAtIsNil(), session.ExpiresAtGT(s.now())).
		Order(session.ByLastSeenAt(sql.OrderDesc())).Limit(100).All(ctx); err != nil {
		return nil, err
	}
	if d.IsAdmin, err = isAdmin(ctx, c, id); err != nil {
		return nil, err
	}
	if d.IsAdmin && !u.Disabled {
		others, err := adminsWithout(ctx, c, id, uuid.Nil)
		if err != nil {
			return nil, err
		}
		d.LastAdmin = len(others) == 0
	}
	if d.Roles, err = c.Role.Query().Order(role.ByIsBuiltin(sql.OrderDesc()), role.ByName()).All(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// lockUser reads the user for a change, refusing unknown ids.
func lockUser(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.User, error) {
	u, err := c.User.Query().Where(user.ID(id)).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, domain.Errf(domain.CodeNotFound, "", "No such user.")
	}
	return u, err
}

// revokeSessions ends every open session of the user (the next request of each lands on
// the sign-in page).
func (s *Service) revokeSessions(ctx context.Context, c *ent.Client, userID uuid.UUID) (int, error) {
	return c.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil()).SetRevokedAt(s.now()).Save(ctx)
}

// SetDisabled disables (ending their sessions at once) or enables a user. Nobody
// disables themselves, and the last platform administrator is never disabled.
func (s *Service) SetDisabled(ctx context.Context, by Actor, id uuid.UUID, disabled bool) error {
	if err := check(by); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		u, err := lockUser(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if u.Disabled == disabled {
			return nil // already so: a second click changes nothing
		}
		ended := 0
		if disabled {
			admin, err := isAdmin(ctx, tx.Ent, id)
			if err != nil {
				return err
			}
			if admin {
				others, err := adminsWithout(ctx, tx.Ent, id, uuid.Nil)
				if err != nil {
					return err
				}
				if len(others) == 0 {
					return lastAdminMessage(u.Username, id == by.ID)
				}
			}
			if id == by.ID {
				return domain.Errf(domain.CodeInvalidInput, "", "You cannot disable your own account. Ask another platform administrator.")
			}
			if ended, err = s.revokeSessions(ctx, tx.Ent, id); err != nil {
				return err
			}
		}
		if err := tx.Ent.User.UpdateOne(u).SetDisabled(disabled).Exec(ctx); err != nil {
			return err
		}
		action := "user.enable"
		if disabled {
			action = "user.disable"
		}
		return auditAs(by, ctx, tx, action, "user", u.ID.String(), u.Username, map[string]any{
			"before":              map[string]any{"disabled": u.Disabled},
			"after":               map[string]any{"disabled": disabled},
			"signed_out_browsers": ended,
		})
	})
}

// SignOutEverywhere ends all of the user's sessions.
func (s *Service) SignOutEverywhere(ctx context.Context, by Actor, id uuid.UUID) (int, error) {
	if err := check(by); err != nil {
		return 0, err
	}
	n := 0
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := lockUser(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if n, err = s.revokeSessions(ctx, tx.Ent, id); err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "user.sessions_revoke", "user", u.ID.String(), u.Username, map[string]any{
			"before": map[string]any{"open_sign_ins": n},
			"after":  map[string]any{"open_sign_ins": 0},
		})
	})
	return n, err
}

// NewLocalUser is the form creating a local account.
type NewLocalUser struct {
	Username, DisplayName, Email string
}

// MaxUsername etc. follow the users table.
const (
	maxUsername = 64
	maxName     = 255
	maxEmail    = 320
)

func (f *NewLocalUser) validate() error {
	f.Username = strings.TrimSpace(f.Username)
	f.DisplayName = strings.TrimSpace(f.DisplayName)
	f.Email = strings.TrimSpace(f.Email)
	errs := domain.FieldErrors{}
	switch {
	case f.Username == "":
		errs.Add("username", "Enter a username (what the person types to sign in).")
	case len(f.Username) > maxUsername:
		errs.Add("username", "Keep the username to 64 characters.")
	case !validUsername(f.Username):
		errs.Add("username", "Use lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit.")
	}
	if len(f.DisplayName) > maxName {
		errs.Add("display_name", "Keep the name to 255 characters.")
	}
	if strings.ContainsAny(f.DisplayName, "\x00\r\n") {
		errs.Add("display_name", "The name must be one line of text.")
	}
	if f.Email != "" && (len(f.Email) > maxEmail || !validEmail(f.Email)) {
		errs.Add("email", "Enter an email address like name@example.com, or leave it empty.")
	}
	return errs.Err()
}

func validUsername(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '.' || r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

func validEmail(s string) bool {
	local, domainPart, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domainPart, ".") && !strings.ContainsAny(s, " \t\r\n\x00<>,;") &&
		!strings.HasPrefix(domainPart, ".") && !strings.HasSuffix(domainPart, ".")
}

// CreateLocal creates a local account with a one-time password, returned once (only
// its hash is kept) and to be changed at the first sign-in.
func (s *Service) CreateLocal(ctx context.Context, by Actor, f NewLocalUser) (*ent.User, string, error) {
	if err := check(by); err != nil {
		return nil, "", err
	}
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	secret := OneTimePassword()
	hash, err := password.Hash(secret)
	if err != nil {
		return nil, "", err
	}
	var out *ent.User
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := tx.Ent.User.Query().Where(user.UsernameEqualFold(f.Username)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return &domain.ValidationError{Fields: domain.FieldErrors{"username": "This username is taken. Choose another."}}
		}
		out, err = tx.Ent.User.Create().
			SetUsername(f.Username).
			SetDisplayName(f.DisplayName).
			SetEmail(f.Email).
			SetAuthType(user.AuthTypeLocal).
			SetPasswordHash(hash).
			SetForcePasswordChange(true).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return &domain.ValidationError{Fields: domain.FieldErrors{"username": "This username is taken. Choose another."}}
		}
		if err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "user.create", "user", out.ID.String(), out.Username, map[string]any{
			"before": nil,
			"after": map[string]any{"username": out.Username, "display_name": out.DisplayName, "email": out.Email,
				"auth_type": "local", "change_required": true},
		})
	})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// ResetPassword gives a local account a new one-time password (returned once), to be
// changed at the next sign-in, and ends its sessions.
func (s *Service) ResetPassword(ctx context.Context, by Actor, id uuid.UUID) (*ent.User, string, error) {
	if err := check(by); err != nil {
		return nil, "", err
	}
	secret := OneTimePassword()
	hash, err := password.Hash(secret)
	if err != nil {
		return nil, "", err
	}
	var out *ent.User
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := lockUser(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if u.AuthType != user.AuthTypeLocal {
			return domain.Errf(domain.CodeInvalidInput, "", "%s signs in through the identity provider; their password is changed there.", u.Username)
		}
		if id == by.ID {
			return domain.Errf(domain.CodeInvalidInput, "", "Change your own password from your account page instead.")
		}
		ended, err := s.revokeSessions(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if out, err = tx.Ent.User.UpdateOne(u).SetPasswordHash(hash).SetForcePasswordChange(true).Save(ctx); err != nil {
			return err
		}
		return auditAs(by, ctx, tx, "user.password_reset", "user", u.ID.String(), u.Username, map[string]any{
			"before":              map[string]any{"change_required": u.ForcePasswordChange},
			"after":               map[string]any{"change_required": true},
			"signed_out_browsers": ended,
		})
	})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// UserCounts are the admin overview's numbers.
type UserCounts struct{ All, Disabled, CustomRoles int }

// CountUsers counts users, disabled users and custom roles.
func (s *Service) CountUsers(ctx context.Context) (UserCounts, error) {
	var n UserCounts
	var err error
	if n.All, err = s.Store.Ent.User.Query().Count(ctx); err != nil {
		return n, err
	}
	if n.Disabled, err = s.Store.Ent.User.Query().Where(user.Disabled(true)).Count(ctx); err != nil {
		return n, err
	}
	n.CustomRoles, err = s.Store.Ent.Role.Query().Where(role.IsBuiltin(false)).Count(ctx)
	return n, err
}
