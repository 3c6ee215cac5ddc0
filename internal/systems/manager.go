// Package systems holds the use cases of the self-service hierarchy: Systems, their
// members, and Services. Every use case checks the caller's rights itself (handlers only
// parse and render), owns its transaction and writes the audit row inside it.
package systems

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/markdown"
)

// Manager runs the use cases on the shared store.
type Manager struct {
	Store *db.Store
}

// Actor is who performs a use case: the account (for audit rows and created_by) and its
// resolved permissions.
type Actor struct {
	ID        uuid.UUID
	Name      string
	Principal *authz.Principal
}

// Not found and forbidden are domain errors so handlers can map them to 404 and 403.
func notFound(entity string) error {
	return domain.Errf(domain.CodeNotFound, "", "%s not found.", entity)
}

func forbidden(format string, args ...any) error {
	return domain.Errf(domain.CodeForbidden, "", format, args...)
}

// IsNotFound and IsForbidden classify use-case errors for the web layer.
func IsNotFound(err error) bool  { return hasCode(err, domain.CodeNotFound) }
func IsForbidden(err error) bool { return hasCode(err, domain.CodeForbidden) }

func hasCode(err error, code string) bool {
	var de *domain.Error
	return errors.As(err, &de) && de.Code == code
}

// coded builds a domain error from a finished message (no format verbs are interpreted).
func coded(code, field, msg string) *domain.Error {
	return &domain.Error{Code: code, Field: field, Message: msg}
}

// withCode appends the spec's error code to a message so people can quote it.
func withCode(code, msg string) string { return msg + " (" + code + ")" }

// authorize decides an action on a System subtree. Visibility comes first: a caller who
// cannot see the System gets NOT_FOUND even for actions they would be denied anyway,
// so the existence of other teams' Systems never leaks through a 403.
func authorize(p *authz.Principal, readPerm, perm string, action authz.Action, systemID uuid.UUID, what string) error {
	if p.Check(readPerm, authz.View, systemID, "") != authz.Allow {
		return notFound(what)
	}
	switch p.Check(perm, action, systemID, "") {
	case authz.Allow:
		return nil
	case authz.Invisible:
		return notFound(what)
	}
	return forbidden("Your role on this System does not allow this.")
}

// can reports an allowed action without the error, for showing buttons.
func can(p *authz.Principal, perm string, action authz.Action, systemID uuid.UUID) bool {
	return p.Check(perm, action, systemID, "") == authz.Allow
}

// liveSystem loads a System that is not deleted.
func liveSystem(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.System, error) {
	s, err := c.System.Query().Where(system.ID(id), system.DeletedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("System")
	}
	return s, err
}

// lockLiveSystem takes a row lock on the System for the rest of the transaction, so a
// delete cannot race a new Service, and member changes of one System apply one at a time.
func lockLiveSystem(ctx context.Context, c *ent.Client, id uuid.UUID) (*ent.System, error) {
	s, err := c.System.Query().Where(system.ID(id), system.DeletedAtIsNil()).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("System")
	}
	return s, err
}

// checkDescription bounds the Markdown source to what the renderer accepts.
func checkDescription(fe domain.FieldErrors, desc string) {
	if len(desc) > markdown.MaxSource {
		fe.Add("description", withCode(domain.CodeInvalidInput,
			fmt.Sprintf("The description can have at most %d characters (it has %d).", markdown.MaxSource, len(desc))))
	}
}

// normalizeDescription trims trailing blank space and unifies line endings, so an
// unchanged textarea does not count as an edit.
func normalizeDescription(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(s, " \t\n")
}

// userNames maps user ids to display names for "created by" and "granted by" columns.
func userNames(ctx context.Context, c *ent.Client, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	users, err := c.User.Query().Where(user.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		out[u.ID] = displayName(u)
	}
	return out, nil
}

func displayName(u *ent.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

func now() time.Time { return time.Now() }
