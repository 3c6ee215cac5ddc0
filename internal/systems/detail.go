package systems

import (
	"context"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/internal/paging"
)

// SystemRights are the buttons a System page shows; every action checks again.
type SystemRights struct {
	Edit, Delete, CreateService, ManageMembers, TransferOwnership bool
}

// ServiceRow is one Service in a System's table.
type ServiceRow struct {
	ID        uuid.UUID
	Name      string
	Excerpt   string
	VMs       int
	CreatedAt time.Time
}

// MemberSummary is the members box of the System page.
type MemberSummary struct {
	Owner  string
	Counts map[string]int // role -> members
	Total  int
}

// SystemDetail is the System page.
type SystemDetail struct {
	System        *ent.System
	CreatedBy     string
	MyRole        string
	Rights        SystemRights
	Services      []ServiceRow
	ServicesTotal int
	Page          paging.Page // of Services or of History, whichever the tab lists
	Members       MemberSummary
	// History is filled instead of Services when the history tab is asked for.
	History      []*ent.AuditLog
	HistoryTotal int
}

// Tab selects what a detail page lists below the header.
type Tab string

const (
	TabOverview Tab = "overview"
	TabHistory  Tab = "history"
)

// GetSystem loads a visible System with one page of its live Services (or of its audit
// history). Systems the principal cannot see are NOT_FOUND, exactly like ones that do not exist.
func (m *Manager) GetSystem(ctx context.Context, p *authz.Principal, id uuid.UUID, tab Tab, pg paging.Page) (SystemDetail, error) {
	pg = pg.Standard()
	var d SystemDetail
	if err := authorize(p, authz.SystemRead, authz.SystemRead, authz.View, id, "System"); err != nil {
		return d, err
	}
	c := m.Store.Ent
	s, err := liveSystem(ctx, c, id)
	if err != nil {
		return d, err
	}
	d.System, d.Page = s, pg
	if role, ok := p.SystemRole(id); ok {
		d.MyRole = string(role)
	}
	d.Rights = rightsOn(p, id)
	if d.Members, err = memberSummary(ctx, c, id); err != nil {
		return d, err
	}
	if s.CreatedBy != nil {
		names, err := userNames(ctx, c, []uuid.UUID{*s.CreatedBy})
		if err != nil {
			return d, err
		}
		d.CreatedBy = names[*s.CreatedBy]
	}
	if tab == TabHistory {
		d.History, d.HistoryTotal, err = audit.ListForResource(ctx, c, "system", id.String(), pg)
		d.Page = pg.Within(d.HistoryTotal)
		return d, err
	}
	q := c.Service.Query().Where(service.SystemID(id), service.DeletedAtIsNil())
	if d.ServicesTotal, err = q.Clone().Count(ctx); err != nil {
		return d, err
	}
	d.Page = pg.Within(d.ServicesTotal)
	svcs, err := q.Order(ent.Asc(service.FieldName)).Offset(d.Page.Offset()).Limit(d.Page.Limit()).All(ctx)
	if err != nil {
		return d, err
	}
	ids := make([]uuid.UUID, 0, len(svcs))
	for _, sv := range svcs {
		ids = append(ids, sv.ID)
	}
	vmCounts, err := activeVMCounts(ctx, c, ids)
	if err != nil {
		return d, err
	}
	for _, sv := range svcs {
		d.Services = append(d.Services, ServiceRow{ID: sv.ID, Name: sv.Name, Excerpt: markdown.Excerpt(sv.Description, ExcerptLength),
			VMs: vmCounts[sv.ID], CreatedAt: sv.CreatedAt})
	}
	return d, nil
}

func rightsOn(p *authz.Principal, id uuid.UUID) SystemRights {
	return SystemRights{
		Edit:              can(p, authz.SystemWrite, authz.Update, id),
		Delete:            can(p, authz.SystemDelete, authz.Delete, id),
		CreateService:     can(p, authz.ServiceCreate, authz.Create, id),
		ManageMembers:     can(p, authz.SystemRead, authz.ManageMembers, id),
		TransferOwnership: can(p, authz.SystemRead, authz.TransferOwnership, id),
	}
}

func memberSummary(ctx context.Context, c *ent.Client, systemID uuid.UUID) (MemberSummary, error) {
	ms, err := c.SystemMember.Query().Where(systemmember.SystemID(systemID)).WithUser().All(ctx)
	if err != nil {
		return MemberSummary{}, err
	}
	out := MemberSummary{Counts: map[string]int{}, Total: len(ms)}
	for _, mb := range ms {
		out.Counts[string(mb.Role)]++
		if mb.Role == systemmember.RoleOwner && mb.Edges.User != nil {
			out.Owner = displayName(mb.Edges.User)
		}
	}
	return out, nil
}
