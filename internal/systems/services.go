package systems

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// ServiceInput is the create-Service form.
type ServiceInput struct {
	SystemID    string
	Name        string
	Description string
}

// SystemChoice is a System the user may create Services in.
type SystemChoice struct {
	ID   uuid.UUID
	Name string
}

// CreatableSystems lists live Systems where the principal may create Services: member or
// better, and the service:create permission (spec/flows.md §2.13).
func (m *Manager) CreatableSystems(ctx context.Context, p *authz.Principal) ([]SystemChoice, error) {
	if !p.Has(authz.ServiceCreate) {
		return nil, forbidden("You cannot create Services: it needs the service:create permission.")
	}
	q := m.Store.Ent.System.Query().Where(system.DeletedAtIsNil())
	if !p.IsPlatformAdmin() {
		q = q.Where(system.HasMembersWith(systemmember.UserID(p.UserID),
			systemmember.RoleIn(systemmember.RoleOwner, systemmember.RoleAdmin, systemmember.RoleMember)))
	}
	rows, err := q.Order(ent.Asc(system.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SystemChoice, 0, len(rows))
	for _, s := range rows {
		if can(p, authz.ServiceCreate, authz.Create, s.ID) {
			out = append(out, SystemChoice{ID: s.ID, Name: s.Name})
		}
	}
	return out, nil
}

// CheckServiceName is the live name check of the Service form. Uniqueness is checked only
// inside a System the caller may create Services in, so it reveals nothing about others.
func (m *Manager) CheckServiceName(ctx context.Context, p *authz.Principal, systemID, name string) (NameStatus, error) {
	if !p.Has(authz.ServiceCreate) {
		return NameStatus{}, forbidden("You cannot create Services.")
	}
	name = strings.TrimSpace(name)
	st := NameStatus{Length: len(name), Max: domain.NameMaxLength}
	nc := domain.CheckName("Service", name)
	if !nc.OK() {
		st.Code, st.Message = nc.Code, nc.Message
		return st, nil
	}
	st.Warning = nc.Warning
	sid, err := uuid.Parse(systemID)
	if err != nil || !can(p, authz.ServiceCreate, authz.Create, sid) {
		return st, nil
	}
	taken, err := serviceNameTaken(ctx, m.Store.Ent, sid, name)
	if err != nil {
		return st, err
	}
	if taken {
		st.Code, st.Message = domain.CodeNameTaken, takenMessage("Service", name)+" in this System. Choose another name."
	}
	return st, nil
}

func serviceNameTaken(ctx context.Context, c *ent.Client, systemID uuid.UUID, name string) (bool, error) {
	return c.Service.Query().Where(service.SystemID(systemID), service.Name(name), service.DeletedAtIsNil()).Exist(ctx)
}

// CreateService creates a Service in a System where the actor is member or better, with
// the service.create audit row in the same transaction (spec/flows.md §2.13). A System id
// the actor may not use (a tampered form) is refused as a field error and nothing is written.
func (m *Manager) CreateService(ctx context.Context, a Actor, in ServiceInput) (Created, error) {
	p := a.Principal
	if !p.Has(authz.ServiceCreate) {
		return Created{}, forbidden("You cannot create Services: it needs the service:create permission.")
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Description = normalizeDescription(in.Description)
	fe := domain.FieldErrors{}
	sid, err := uuid.Parse(strings.TrimSpace(in.SystemID))
	if err != nil || !can(p, authz.ServiceCreate, authz.Create, sid) {
		fe.Add("system", "Choose one of the listed Systems: you can create Services only where you are a member, admin or owner.")
	}
	if nc := domain.CheckName("Service", in.Name); !nc.OK() {
		fe.Add("name", withCode(nc.Code, nc.Message))
	}
	checkDescription(fe, in.Description)
	if err := fe.Err(); err != nil {
		return Created{}, err
	}
	var out Created
	err = m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// Share-locking the System keeps a concurrent System delete from slipping past.
		s, err := tx.Ent.System.Query().Where(system.ID(sid), system.DeletedAtIsNil()).ForShare().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.FieldErrors{"system": "This System no longer exists."}.Err()
		}
		if err != nil {
			return err
		}
		taken, err := serviceNameTaken(ctx, tx.Ent, sid, in.Name)
		if err != nil {
			return err
		}
		if taken {
			return serviceTaken(in.Name, s.Name)
		}
		sv, err := tx.Ent.Service.Create().SetSystemID(sid).SetName(in.Name).SetDescription(in.Description).
			SetCreatedBy(a.ID).Save(ctx)
		if ent.IsConstraintError(err) {
			return serviceTaken(in.Name, s.Name)
		}
		if err != nil {
			return err
		}
		out = Created{ID: sv.ID.String(), Name: sv.Name, Warning: domain.CheckName("Service", sv.Name).Warning}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "service.create", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "service", ResourceID: sv.ID.String(), ResourceName: sv.Name,
			ParentType: "system", ParentID: s.ID.String(),
			Details: map[string]any{"name": sv.Name, "system": s.Name, "description": sv.Description}})
	})
	return out, err
}

func serviceTaken(name, systemName string) error {
	return domain.FieldErrors{"name": withCode(domain.CodeNameTaken,
		takenMessage("Service", name)+" in System "+systemName+". Choose another name.")}.Err()
}
