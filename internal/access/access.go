// Package access is the administration of who may do what: users (search, disable,
// local accounts and their one-time passwords, sessions), role bindings granted by hand,
// and custom roles composed from the atomic permissions. Platform admins only; every
// change is audited with what it was before and after.
package access

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/permission"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Service holds the access administration use cases. Each owns its transaction.
type Service struct {
	Store *db.Store
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Actor is the platform admin making a change.
type Actor = authz.Actor

func check(a Actor) error {
	return a.RequirePlatformAdmin("Users and roles are managed by platform administrators.")
}

func auditAs(a Actor, ctx context.Context, tx *db.Tx, action, resourceType, resourceID, resourceName string, details map[string]any) error {
	return audit.Write(ctx, tx.Ent, audit.Entry{
		Action:       action,
		ActorID:      &a.ID,
		ActorName:    a.Name,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		ResourceName: resourceName,
		Details:      details,
	})
}

// lockAdmins serialises the changes that could leave the platform without an
// administrator (two admins disabling each other at the same moment would otherwise
// both see the other one still there).
func lockAdmins(ctx context.Context, tx *db.Tx) error {
	_, err := tx.SQL.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('shepherd.platform_admins'))`)
	return err
}

// adminsWithout returns the enabled users who hold platform:admin, leaving out the user
// skipUser and the binding skipBinding (the change being considered).
func adminsWithout(ctx context.Context, c *ent.Client, skipUser, skipBinding uuid.UUID) ([]uuid.UUID, error) {
	bindings, err := c.RoleBinding.Query().
		Where(
			rolebinding.HasRoleWith(role.HasPermissionsWith(permission.ID(authz.PlatformAdmin))),
			rolebinding.HasUserWith(user.Disabled(false)),
			rolebinding.UserIDNEQ(skipUser),
			rolebinding.IDNEQ(skipBinding),
		).
		All(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, b := range bindings {
		if !seen[b.UserID] {
			seen[b.UserID] = true
			out = append(out, b.UserID)
		}
	}
	return out, nil
}

// isAdmin says whether the user holds platform:admin through any binding.
func isAdmin(ctx context.Context, c *ent.Client, userID uuid.UUID) (bool, error) {
	return c.RoleBinding.Query().
		Where(rolebinding.UserID(userID), rolebinding.HasRoleWith(role.HasPermissionsWith(permission.ID(authz.PlatformAdmin)))).
		Exist(ctx)
}

// CodeLastAdmin refuses a change that would leave nobody holding platform:admin.
const CodeLastAdmin = "LAST_PLATFORM_ADMIN"

// lastAdminMessage is the refusal when a change would leave no platform administrator.
func lastAdminMessage(name string, self bool) *domain.Error {
	if self {
		return domain.Errf(CodeLastAdmin, "",
			"You are the last platform administrator. Make someone else a platform administrator first, or Shepherd would have nobody to manage it.")
	}
	return domain.Errf(CodeLastAdmin, "",
		"%s is the last platform administrator. Make someone else a platform administrator first, or Shepherd would have nobody to manage it.", name)
}

// oneTimeAlphabet leaves out characters that are easy to misread (0/O, 1/l/I).
const oneTimeAlphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// OneTimePassword is 20 random characters in groups of five (about 115 bits), easy to
// read out over the phone; it must be changed at the first sign-in.
func OneTimePassword() string {
	// Bytes at or above the largest multiple of the alphabet's size are skipped, so
	// every character is equally likely.
	limit := 256 - 256%len(oneTimeAlphabet)
	out := make([]byte, 0, 23)
	buf := make([]byte, 32)
	for n := 0; n < 20; {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		for _, v := range buf {
			if int(v) >= limit || n == 20 {
				continue
			}
			if n > 0 && n%5 == 0 {
				out = append(out, '-')
			}
			out = append(out, oneTimeAlphabet[int(v)%len(oneTimeAlphabet)])
			n++
		}
	}
	return string(out)
}

// nullTime reads an optional time for audit details.
func timeText(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
