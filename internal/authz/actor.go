package authz

import (
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/domain"
)

// Actor is the signed-in person a use case acts for: the audit row names them, and the
// use case checks their permissions again whatever the route already checked.
type Actor struct {
	ID        uuid.UUID
	Name      string
	Principal *Principal
}

// RequirePlatformAdmin refuses anyone but a platform admin with why (FORBIDDEN).
func (a Actor) RequirePlatformAdmin(why string) error {
	if !a.Principal.IsPlatformAdmin() {
		return domain.Errf(domain.CodeForbidden, "", "%s", why)
	}
	return nil
}
