package systems

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
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
	VMsCapped bool // more than VMs
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
	if tab == TabHistory {
		if d.Members, d.CreatedBy, _, err = m.summary(ctx, s); err != nil {
			return d, err
		}
		d.History, d.HistoryTotal, err = audit.ListForResource(ctx, c, "system", id.String(), pg)
		d.Page = pg.Within(d.HistoryTotal)
		return d, err
	}
	if d.Members, d.CreatedBy, d.ServicesTotal, err = m.summary(ctx, s); err != nil {
		return d, err
	}
	d.Page = pg.Within(d.ServicesTotal)
	d.Services, err = m.servicesPage(ctx, id, d.Page)
	return d, err
}

// summary reads the members box (counts by role, the owner), the creator's name and the
// number of live Services in one statement: aggregates, not every member's row.
func (m *Manager) summary(ctx context.Context, s *ent.System) (MemberSummary, string, int, error) {
	out := MemberSummary{Counts: map[string]int{}}
	var creator *uuid.UUID
	if s.CreatedBy != nil {
		creator = s.CreatedBy
	}
	rows, err := m.Store.SQL.QueryContext(ctx, `SELECT m.role, count(*),
		max(CASE WHEN m.role = 'owner' THEN coalesce(nullif(u.display_name, ''), u.username) END),
		(SELECT coalesce(nullif(display_name, ''), username) FROM users WHERE id = $2),
		(SELECT count(*) FROM services WHERE system_id = $1 AND deleted_at IS NULL)
		FROM (SELECT NULL) one
		LEFT JOIN system_members m ON m.system_id = $1
		LEFT JOIN users u ON u.id = m.user_id
		GROUP BY m.role`, s.ID, creator)
	if err != nil {
		return out, "", 0, err
	}
	defer rows.Close()
	var createdBy string
	services := 0
	for rows.Next() {
		var (
			role          sql.NullString
			n             int
			owner, author sql.NullString
		)
		if err := rows.Scan(&role, &n, &owner, &author, &services); err != nil {
			return out, "", 0, err
		}
		createdBy = author.String
		if !role.Valid {
			continue // no members at all
		}
		out.Counts[role.String] += n
		out.Total += n
		if owner.Valid {
			out.Owner = owner.String
		}
	}
	return out, createdBy, services, rows.Err()
}

// servicesPage lists a page of the System's live Services by name with their live VMs,
// counted up to paging.CountCap+1 each (a Service of a million VMs costs no more).
func (m *Manager) servicesPage(ctx context.Context, systemID uuid.UUID, pg paging.Page) ([]ServiceRow, error) {
	rows, err := m.Store.SQL.QueryContext(ctx, `SELECT s.id, s.name, s.description, s.created_at,
		(SELECT count(*) FROM (SELECT 1 FROM vms v WHERE v.service_id = s.id AND v.status <> 'DELETED' LIMIT `+
		strconv.Itoa(paging.CountCap+1)+`) c)
		FROM services s WHERE s.system_id = $1 AND s.deleted_at IS NULL
		ORDER BY s.name LIMIT $2 OFFSET $3`, systemID, pg.Limit(), pg.Offset())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ServiceRow
	for rows.Next() {
		var (
			r    ServiceRow
			desc string
		)
		if err := rows.Scan(&r.ID, &r.Name, &desc, &r.CreatedAt, &r.VMs); err != nil {
			return nil, err
		}
		r.Excerpt = markdown.Excerpt(desc, ExcerptLength)
		if r.VMs > paging.CountCap {
			r.VMs, r.VMsCapped = paging.CountCap, true
		}
		out = append(out, r)
	}
	return out, rows.Err()
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
