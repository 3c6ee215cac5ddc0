package systems

import (
	"context"
	"fmt"
	"strings"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// SystemInput is the create-System form.
type SystemInput struct {
	Name        string
	Description string
}

// Created is the outcome of a create: the new row's id and name, and the
// NAME_LENGTH_WARNING text when the name is accepted but long.
type Created struct {
	ID      string
	Name    string
	Warning string
}

// NameStatus is the live verdict on a name as it is typed.
type NameStatus struct {
	Length  int
	Max     int
	Code    string
	Message string
	Warning string
}

// CheckSystemName runs the naming policy and the uniqueness check among live Systems,
// for the form's live validation. It needs system:write, like the form itself.
func (m *Manager) CheckSystemName(ctx context.Context, p *authz.Principal, name string) (NameStatus, error) {
	if !p.Has(authz.SystemWrite) {
		return NameStatus{}, forbidden("You cannot create Systems.")
	}
	name = strings.TrimSpace(name)
	st := NameStatus{Length: len(name), Max: domain.NameMaxLength}
	nc := domain.CheckName("System", name)
	if !nc.OK() {
		st.Code, st.Message = nc.Code, nc.Message
		return st, nil
	}
	st.Warning = nc.Warning
	taken, err := systemNameTaken(ctx, m.Store.Ent, name)
	if err != nil {
		return st, err
	}
	if taken {
		st.Code, st.Message = domain.CodeNameTaken, takenMessage("System", name)+". Choose another name."
	}
	return st, nil
}

func takenMessage(entity, name string) string {
	return fmt.Sprintf("A %s named %q already exists", entity, name)
}

func systemNameTaken(ctx context.Context, c *ent.Client, name string) (bool, error) {
	return c.System.Query().Where(system.Name(name), system.DeletedAtIsNil()).Exist(ctx)
}

// validateSystem collects every problem of the form at once.
func validateSystem(in SystemInput) domain.FieldErrors {
	fe := domain.FieldErrors{}
	if nc := domain.CheckName("System", in.Name); !nc.OK() {
		fe.Add("name", withCode(nc.Code, nc.Message))
	}
	checkDescription(fe, in.Description)
	return fe
}

// CreateSystem creates a System and makes the creator its owner, in one transaction
// with the system.create audit row (spec/flows.md §2.11).
func (m *Manager) CreateSystem(ctx context.Context, a Actor, in SystemInput) (Created, error) {
	if !a.Principal.Has(authz.SystemWrite) {
		return Created{}, forbidden("You cannot create Systems: it needs the system:write permission.")
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Description = normalizeDescription(in.Description)
	fe := validateSystem(in)
	if err := fe.Err(); err != nil {
		return Created{}, err
	}
	var out Created
	err := m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := systemNameTaken(ctx, tx.Ent, in.Name)
		if err != nil {
			return err
		}
		if taken {
			return nameTakenError("System", in.Name)
		}
		s, err := tx.Ent.System.Create().SetName(in.Name).SetDescription(in.Description).SetCreatedBy(a.ID).Save(ctx)
		if ent.IsConstraintError(err) {
			// Two people submitted the same name at once: the partial unique index decided.
			return nameTakenError("System", in.Name)
		}
		if err != nil {
			return err
		}
		if err := tx.Ent.SystemMember.Create().SetSystemID(s.ID).SetUserID(a.ID).SetRole(systemmember.RoleOwner).
			SetGrantedBy(a.ID).Exec(ctx); err != nil {
			return err
		}
		out = Created{ID: s.ID.String(), Name: s.Name, Warning: domain.CheckName("System", s.Name).Warning}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "system.create", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "system", ResourceID: s.ID.String(), ResourceName: s.Name,
			Details: map[string]any{"name": s.Name, "description": s.Description, "owner": a.Name}})
	})
	return out, err
}

func nameTakenError(entity, name string) error {
	return domain.FieldErrors{"name": withCode(domain.CodeNameTaken, takenMessage(entity, name)+". Choose another name.")}.Err()
}
