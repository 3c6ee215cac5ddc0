package systems

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// SystemForEdit loads a System for its description form (owner/admin only).
func (m *Manager) SystemForEdit(ctx context.Context, p *authz.Principal, id uuid.UUID) (*ent.System, error) {
	if err := authorize(p, authz.SystemRead, authz.SystemWrite, authz.Update, id, "System"); err != nil {
		return nil, err
	}
	return liveSystem(ctx, m.Store.Ent, id)
}

// UpdateSystemDescription changes the only mutable field of a System and audits
// system.update with the old and new text (spec/flows.md §2.11 step 5).
func (m *Manager) UpdateSystemDescription(ctx context.Context, a Actor, id uuid.UUID, description string) error {
	if err := authorize(a.Principal, authz.SystemRead, authz.SystemWrite, authz.Update, id, "System"); err != nil {
		return err
	}
	description = normalizeDescription(description)
	fe := domain.FieldErrors{}
	checkDescription(fe, description)
	if err := fe.Err(); err != nil {
		return err
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		s, err := lockLiveSystem(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if s.Description == description {
			return nil // nothing changed: no write, no audit row
		}
		if err := tx.Ent.System.UpdateOne(s).SetDescription(description).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "system.update", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "system", ResourceID: s.ID.String(), ResourceName: s.Name,
			Details: map[string]any{"field": "description", "old": s.Description, "new": description}})
	})
}

// DeleteSystem soft-deletes a System after the typed-name confirmation, refusing while it
// has live Services (restrict, never cascade: spec/domain.md §11.3). No approval is needed.
func (m *Manager) DeleteSystem(ctx context.Context, a Actor, id uuid.UUID, confirmName string) error {
	if err := authorize(a.Principal, authz.SystemRead, authz.SystemDelete, authz.Delete, id, "System"); err != nil {
		return err
	}
	confirmName = strings.TrimSpace(confirmName)
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// The lock makes a Service created concurrently wait, then see the System gone.
		s, err := lockLiveSystem(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if e := domain.ConfirmTypedName("System", s.Name, confirmName); e != nil {
			return e
		}
		n, err := tx.Ent.Service.Query().Where(service.SystemID(id), service.DeletedAtIsNil()).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			e := coded(domain.CodeDeleteRestricted, "", withCode(domain.CodeDeleteRestricted,
				remaining(n, "service", "services", "System")))
			e.Params = map[string]any{"entity": "system", "children": "services", "child_count": n}
			return e
		}
		if err := tx.Ent.System.UpdateOne(s).SetDeletedAt(now()).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "system.delete", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "system", ResourceID: s.ID.String(), ResourceName: s.Name,
			Details: map[string]any{"confirmation": confirmName}})
	})
}

// remaining words a DELETE_RESTRICTED refusal: "1 service remains in this System; delete it first."
func remaining(n int, one, many, parent string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s remains in this %s; delete it first.", one, parent)
	}
	return fmt.Sprintf("%d %s remain in this %s; delete them first.", n, many, parent)
}
