package systems

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/textutil"
)

// GrantableRoles are the roles the members form offers; owner is reached only by transfer.
var GrantableRoles = []authz.MemberRole{authz.Admin, authz.Member, authz.Viewer}

// MemberRow is one line of the members table.
type MemberRow struct {
	UserID    uuid.UUID
	Name      string
	Username  string
	Email     string
	Role      string
	GrantedBy string
	Since     time.Time
	// Editable is false for the owner row and for viewers of the page without the right.
	Editable bool
}

// MembersPage is the members screen of a System.
type MembersPage struct {
	System      *ent.System
	Members     []MemberRow
	MyRole      string
	CanTransfer bool
}

// Candidate is a person the member search offers.
type Candidate struct {
	UserID   uuid.UUID
	Name     string
	Username string
	Email    string
}

// CandidateLimit bounds the search results shown in the picker.
const CandidateLimit = 10

// authorizeMembers gates the members screen: owners and admins (and platform admins).
func authorizeMembers(p *authz.Principal, systemID uuid.UUID) error {
	return authorize(p, authz.SystemRead, authz.SystemRead, authz.ManageMembers, systemID, "System")
}

// ListMembers returns a System's members, owner first, then by name.
func (m *Manager) ListMembers(ctx context.Context, p *authz.Principal, systemID uuid.UUID) (MembersPage, error) {
	var out MembersPage
	if err := authorizeMembers(p, systemID); err != nil {
		return out, err
	}
	c := m.Store.Ent
	s, err := liveSystem(ctx, c, systemID)
	if err != nil {
		return out, err
	}
	out.System = s
	if r, ok := p.SystemRole(systemID); ok {
		out.MyRole = string(r)
	}
	out.CanTransfer = can(p, authz.SystemRead, authz.TransferOwnership, systemID)
	ms, err := c.SystemMember.Query().Where(systemmember.SystemID(systemID)).WithUser().All(ctx)
	if err != nil {
		return out, err
	}
	var granters []uuid.UUID
	for _, mb := range ms {
		if mb.GrantedBy != nil {
			granters = append(granters, *mb.GrantedBy)
		}
	}
	names, err := userNames(ctx, c, granters)
	if err != nil {
		return out, err
	}
	for _, mb := range ms {
		u := mb.Edges.User
		row := MemberRow{UserID: mb.UserID, Role: string(mb.Role), Since: mb.CreatedAt, Editable: mb.Role != systemmember.RoleOwner}
		if u != nil {
			row.Name, row.Username, row.Email = displayName(u), u.Username, u.Email
		}
		if mb.GrantedBy != nil {
			row.GrantedBy = names[*mb.GrantedBy]
		}
		out.Members = append(out.Members, row)
	}
	sort.SliceStable(out.Members, func(i, j int) bool {
		oi, oj := out.Members[i].Role == string(authz.Owner), out.Members[j].Role == string(authz.Owner)
		if oi != oj {
			return oi
		}
		return strings.ToLower(out.Members[i].Name) < strings.ToLower(out.Members[j].Name)
	})
	return out, nil
}

// SearchCandidates finds active users by username, display name or e-mail who are not
// yet members of the System, for the add-member picker.
func (m *Manager) SearchCandidates(ctx context.Context, p *authz.Principal, systemID uuid.UUID, q string) ([]Candidate, error) {
	if err := authorizeMembers(p, systemID); err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	q = textutil.Truncate(q, 100) // whole characters, valid UTF-8 (PostgreSQL refuses anything else)
	users, err := m.Store.Ent.User.Query().
		Where(user.Disabled(false),
			user.Or(user.UsernameContainsFold(q), user.DisplayNameContainsFold(q), user.EmailContainsFold(q)),
			user.Not(user.HasMembershipsWith(systemmember.SystemID(systemID)))).
		Order(ent.Asc(user.FieldUsername)).Limit(CandidateLimit).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(users))
	for _, u := range users {
		out = append(out, Candidate{UserID: u.ID, Name: displayName(u), Username: u.Username, Email: u.Email})
	}
	return out, nil
}

// actorRole is the role the actor acts with on the System. Platform admins who are not
// members act as owners would for granting (they hold every permission anyway).
func actorRole(p *authz.Principal, systemID uuid.UUID) authz.MemberRole {
	if p.IsPlatformAdmin() {
		return authz.Owner
	}
	r, _ := p.SystemRole(systemID)
	return r
}

// parseGrantableRole accepts admin, member and viewer; owner is refused with a reason.
func parseGrantableRole(actor authz.MemberRole, raw string) (authz.MemberRole, string) {
	r := authz.MemberRole(strings.TrimSpace(raw))
	switch r {
	case authz.Owner:
		return "", "Ownership is handed over with \"Transfer ownership\", not granted."
	case authz.Admin, authz.Member, authz.Viewer:
		if !actor.CanGrant(r) {
			return "", "Your role cannot grant this role."
		}
		return r, ""
	}
	return "", "Choose admin, member or viewer."
}

func parseUserID(raw string) (uuid.UUID, bool) {
	id, err := uuid.Parse(strings.TrimSpace(raw))
	return id, err == nil
}

func scopeOf(s *ent.System) string { return "system:" + s.Name }

// ownerRowError refuses edits of the owner row, which also keeps the last owner in place.
func ownerRowError() error {
	return coded(domain.CodeForbidden, "", "The owner's membership cannot be changed or removed: a System always keeps its owner. "+
		"Transfer ownership to another member first.")
}
