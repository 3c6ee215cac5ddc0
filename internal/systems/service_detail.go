package systems

import (
	"context"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ServiceRights are the buttons of a Service page.
type ServiceRights struct {
	Edit, Delete, RequestVM bool
}

// ServiceDetail is the Service page.
type ServiceDetail struct {
	Service *ent.Service
	System  *ent.System
	Rights  ServiceRights
	// VMs are the Service's VMs in environments the viewer may see, newest first.
	VMs      []*ent.VM
	VMsTotal int
	// VMsHidden is set when the viewer holds vm:read in no environment.
	VMsHidden    bool
	Page         paging.Page // of VMs or of History, whichever the tab lists
	History      []*ent.AuditLog
	HistoryTotal int
}

// loadService finds a live Service in a live System, checking the viewer may see it.
func loadService(ctx context.Context, c *ent.Client, p *authz.Principal, id uuid.UUID) (*ent.Service, *ent.System, error) {
	sv, err := c.Service.Query().Where(service.ID(id), service.DeletedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil, notFound("Service")
	}
	if err != nil {
		return nil, nil, err
	}
	if err := authorize(p, authz.ServiceRead, authz.ServiceRead, authz.View, sv.SystemID, "Service"); err != nil {
		return nil, nil, err
	}
	s, err := liveSystem(ctx, c, sv.SystemID)
	if IsNotFound(err) {
		return nil, nil, notFound("Service")
	}
	return sv, s, err
}

// GetService loads a visible Service with one page of its VMs (or of its history).
func (m *Manager) GetService(ctx context.Context, p *authz.Principal, id uuid.UUID, tab Tab, pg paging.Page) (ServiceDetail, error) {
	pg = pg.Standard()
	c := m.Store.Ent
	sv, s, err := loadService(ctx, c, p, id)
	if err != nil {
		return ServiceDetail{}, err
	}
	d := ServiceDetail{Service: sv, System: s, Page: pg, Rights: ServiceRights{
		Edit:      can(p, authz.ServiceCreate, authz.Update, s.ID),
		Delete:    can(p, authz.ServiceDelete, authz.Delete, s.ID),
		RequestVM: can(p, authz.VMCreate, authz.Create, s.ID),
	}}
	if tab == TabHistory {
		d.History, d.HistoryTotal, err = audit.ListForResource(ctx, c, "service", id.String(), pg)
		d.Page = pg.Within(d.HistoryTotal)
		return d, err
	}
	envs := p.Environments(authz.VMRead)
	if len(envs) == 0 {
		d.VMsHidden = true
		return d, nil
	}
	q := c.VM.Query().Where(vm.ServiceID(id), vm.StatusNEQ(vm.StatusDELETED), vm.EnvironmentIn(toVMEnvs(envs)...))
	if d.VMsTotal, err = q.Clone().Count(ctx); err != nil {
		return d, err
	}
	d.Page = pg.Within(d.VMsTotal)
	d.VMs, err = q.Order(ent.Desc(vm.FieldCreatedAt), ent.Desc(vm.FieldID)).Offset(d.Page.Offset()).Limit(d.Page.Limit()).All(ctx)
	return d, err
}

func toVMEnvs(envs []string) []vm.Environment {
	out := make([]vm.Environment, 0, len(envs))
	for _, e := range envs {
		out = append(out, vm.Environment(e))
	}
	return out
}

// ServiceForEdit loads a Service for its description form (owner/admin of the System).
func (m *Manager) ServiceForEdit(ctx context.Context, p *authz.Principal, id uuid.UUID) (*ent.Service, *ent.System, error) {
	sv, s, err := loadService(ctx, m.Store.Ent, p, id)
	if err != nil {
		return nil, nil, err
	}
	if err := authorize(p, authz.ServiceRead, authz.ServiceCreate, authz.Update, s.ID, "Service"); err != nil {
		return nil, nil, err
	}
	return sv, s, nil
}

// UpdateServiceDescription changes a Service's description (its name never changes,
// because it is part of every VM name) and audits service.update with old and new text.
func (m *Manager) UpdateServiceDescription(ctx context.Context, a Actor, id uuid.UUID, description string) error {
	if _, _, err := m.ServiceForEdit(ctx, a.Principal, id); err != nil {
		return err
	}
	description = normalizeDescription(description)
	fe := domain.FieldErrors{}
	checkDescription(fe, description)
	if err := fe.Err(); err != nil {
		return err
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		sv, err := tx.Ent.Service.Query().Where(service.ID(id), service.DeletedAtIsNil()).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return notFound("Service")
		}
		if err != nil {
			return err
		}
		if sv.Description == description {
			return nil
		}
		if err := tx.Ent.Service.UpdateOne(sv).SetDescription(description).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "service.update", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "service", ResourceID: sv.ID.String(), ResourceName: sv.Name,
			ParentType: "system", ParentID: sv.SystemID.String(),
			Details: map[string]any{"field": "description", "old": sv.Description, "new": description}})
	})
}

// DeleteService soft-deletes a Service after a plain confirmation, refusing while it has
// VMs that are not DELETED (a VM still being deleted blocks too). DESIGN §3.6: no approval.
// It returns the parent System's id, where the person lands afterwards.
func (m *Manager) DeleteService(ctx context.Context, a Actor, id uuid.UUID, confirmed bool) (uuid.UUID, error) {
	sv, s, err := loadService(ctx, m.Store.Ent, a.Principal, id)
	if err != nil {
		return uuid.Nil, err
	}
	if err := authorize(a.Principal, authz.ServiceRead, authz.ServiceDelete, authz.Delete, s.ID, "Service"); err != nil {
		return uuid.Nil, err
	}
	if !confirmed {
		return uuid.Nil, coded(domain.CodeConfirmationRequired, "confirm",
			withCode(domain.CodeConfirmationRequired, "Tick the box to confirm the deletion."))
	}
	err = m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// Locking the Service serialises with VM requests, which bump next_instance_index.
		locked, err := tx.Ent.Service.Query().Where(service.ID(sv.ID), service.DeletedAtIsNil()).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return notFound("Service")
		}
		if err != nil {
			return err
		}
		n, err := tx.Ent.VM.Query().Where(vm.ServiceID(sv.ID), vm.StatusNEQ(vm.StatusDELETED)).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			e := coded(domain.CodeDeleteRestricted, "", withCode(domain.CodeDeleteRestricted,
				remaining(n, "VM", "VMs", "service")))
			e.Params = map[string]any{"entity": "service", "children": "vms", "child_count": n}
			return e
		}
		if err := tx.Ent.Service.UpdateOne(locked).SetDeletedAt(now()).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "service.delete", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "service", ResourceID: sv.ID.String(), ResourceName: sv.Name,
			ParentType: "system", ParentID: s.ID.String(),
			Details: map[string]any{"system": s.Name, "confirm": true}})
	})
	return s.ID, err
}
