package systems

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ExcerptLength bounds description excerpts in lists.
const ExcerptLength = 90

// SystemRow is one line of the Systems list.
type SystemRow struct {
	ID          uuid.UUID
	Name        string
	Excerpt     string
	MyRole      string // "" for platform admins who are not members
	Services    int
	CreatedBy   string
	CreatedAt   time.Time
	Description string
}

// SystemList is one page of visible Systems.
type SystemList struct {
	Rows      []SystemRow
	Total     int
	Page      paging.Page // the page shown: 20 rows by default, at most 100, the last when past the end
	CanCreate bool
}

// ListSystems lists the Systems the principal may see (all for platform admins, otherwise
// those they are a member of), filtered by a name fragment, sorted by name.
func (m *Manager) ListSystems(ctx context.Context, p *authz.Principal, query string, pg paging.Page) (SystemList, error) {
	pg = pg.Standard()
	out := SystemList{Page: pg, CanCreate: p.Has(authz.SystemWrite)}
	if !p.Has(authz.SystemRead) {
		return out, forbidden("You cannot see Systems.")
	}
	c := m.Store.Ent
	q := c.System.Query().Where(system.DeletedAtIsNil())
	if !p.IsPlatformAdmin() {
		q = q.Where(system.HasMembersWith(systemmember.UserID(p.UserID)))
	}
	if s := strings.TrimSpace(query); s != "" {
		q = q.Where(system.NameContainsFold(s))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return out, err
	}
	out.Page = pg.Within(total)
	rows, err := q.Order(ent.Asc(system.FieldName)).Offset(out.Page.Offset()).Limit(out.Page.Limit()).All(ctx)
	if err != nil {
		return out, err
	}
	out.Total = total
	ids := make([]uuid.UUID, 0, len(rows))
	creators := []uuid.UUID{}
	for _, s := range rows {
		ids = append(ids, s.ID)
		if s.CreatedBy != nil {
			creators = append(creators, *s.CreatedBy)
		}
	}
	counts, err := liveServiceCounts(ctx, c, ids)
	if err != nil {
		return out, err
	}
	names, err := userNames(ctx, c, creators)
	if err != nil {
		return out, err
	}
	for _, s := range rows {
		r := SystemRow{ID: s.ID, Name: s.Name, Excerpt: markdown.Excerpt(s.Description, ExcerptLength),
			Services: counts[s.ID], CreatedAt: s.CreatedAt, Description: s.Description}
		if role, ok := p.SystemRole(s.ID); ok {
			r.MyRole = string(role)
		}
		if s.CreatedBy != nil {
			r.CreatedBy = names[*s.CreatedBy]
		}
		out.Rows = append(out.Rows, r)
	}
	return out, nil
}

// liveServiceCounts counts non-deleted Services per System in one query.
func liveServiceCounts(ctx context.Context, c *ent.Client, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	out := map[uuid.UUID]int{}
	if len(ids) == 0 {
		return out, nil
	}
	var v []struct {
		SystemID uuid.UUID `json:"system_id"`
		Count    int       `json:"count"`
	}
	err := c.Service.Query().Where(service.SystemIDIn(ids...), service.DeletedAtIsNil()).
		GroupBy(service.FieldSystemID).Aggregate(ent.Count()).Scan(ctx, &v)
	if err != nil {
		return nil, err
	}
	for _, r := range v {
		out[r.SystemID] = r.Count
	}
	return out, nil
}
