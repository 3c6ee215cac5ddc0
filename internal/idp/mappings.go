package idp

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/idpgroupmapping"
	"kv-shepherd.io/shepherd/ent/idpseengroup"
	"kv-shepherd.io/shepherd/ent/idpusergroups"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Mapping is a grid row.
type Mapping struct {
	ID           uuid.UUID
	Group        string
	RoleID       uuid.UUID
	RoleName     string // "" when the role no longer exists (the mapping is broken)
	Environments []string
	// SystemID and MemberRole name the optional System membership the mapping gives
	// (uuid.Nil and "" when none); SystemName is "" when that System was deleted.
	SystemID   uuid.UUID
	SystemName string
	MemberRole string
	Version    int
}

// Broken reports a mapping to a role or System that no longer exists: it gives nothing.
func (m Mapping) Broken() bool {
	return m.RoleName == "" || (m.SystemID != uuid.Nil && m.SystemName == "")
}

// MemberRoles are the System membership roles a mapping may give, highest first.
var MemberRoles = []string{"owner", "admin", "member", "viewer"}

// SeenGroup is a group a sign-in through the provider delivered lately.
type SeenGroup struct {
	Name     string
	LastSeen time.Time
	Mapped   bool
}

// Grid is a provider's mappings, the roles to choose from and the groups seen lately.
type Grid struct {
	Mappings []Mapping
	Roles    []*ent.Role
	Systems  []*ent.System
	Seen     []SeenGroup
}

// SeenWindow is how far back "groups seen recently" looks.
const SeenWindow = 90 * 24 * time.Hour

// Grid loads a provider's mapping grid. The key must name a provider (see Provider).
func (s *Service) Grid(ctx context.Context, key string) (Grid, error) {
	var g Grid
	rows, err := s.Store.Ent.IdPGroupMapping.Query().Where(idpgroupmapping.Provider(key)).
		Order(ent.Asc(idpgroupmapping.FieldGroupName), ent.Asc(idpgroupmapping.FieldCreatedAt)).All(ctx)
	if err != nil {
		return g, err
	}
	g.Roles, err = s.Store.Ent.Role.Query().Order(ent.Asc(role.FieldName)).All(ctx)
	if err != nil {
		return g, err
	}
	g.Systems, err = s.Store.Ent.System.Query().Where(system.DeletedAtIsNil()).Order(ent.Asc(system.FieldName)).All(ctx)
	if err != nil {
		return g, err
	}
	names := map[uuid.UUID]string{}
	for _, r := range g.Roles {
		names[r.ID] = r.Name
	}
	systems := map[uuid.UUID]string{}
	for _, sy := range g.Systems {
		systems[sy.ID] = sy.Name
	}
	mapped := map[string]bool{}
	for _, m := range rows {
		row := Mapping{
			ID:           m.ID,
			Group:        m.GroupName,
			RoleID:       m.RoleID,
			RoleName:     names[m.RoleID],
			Environments: m.AllowedEnvironments,
			Version:      m.Version,
		}
		if m.SystemID != nil && m.MemberRole != nil {
			row.SystemID = *m.SystemID
			row.SystemName = systems[*m.SystemID]
			row.MemberRole = string(*m.MemberRole)
		}
		g.Mappings = append(g.Mappings, row)
		mapped[m.GroupName] = true
	}
	seen, err := s.Store.Ent.IdPSeenGroup.Query().Where(idpseengroup.Provider(key), idpseengroup.LastSeenAtGT(s.now().Add(-SeenWindow))).
		Order(ent.Desc(idpseengroup.FieldLastSeenAt), ent.Asc(idpseengroup.FieldGroupName)).Limit(200).All(ctx)
	if err != nil {
		return g, err
	}
	for _, sg := range seen {
		isMapped := false
		for _, c := range auth.GroupCandidates([]string{sg.GroupName}) {
			isMapped = isMapped || mapped[c]
		}
		g.Seen = append(g.Seen, SeenGroup{Name: sg.GroupName, LastSeen: sg.LastSeenAt, Mapped: isMapped})
	}
	return g, nil
}

// MappingInput is a grid row as submitted.
type MappingInput struct {
	Group        string
	RoleID       string
	Environments []string
	// SystemID and MemberRole: the optional System membership, both or neither.
	SystemID   string
	MemberRole string
	Version    int
}

// membership is a validated mapping's System membership (nil system when none).
type membership struct {
	system *ent.System
	role   idpgroupmapping.MemberRole
}

func (m membership) details() map[string]any {
	if m.system == nil {
		return nil
	}
	return map[string]any{"system": m.system.Name, "role": string(m.role)}
}

func (s *Service) validateMembership(ctx context.Context, in *MappingInput, f domain.FieldErrors) (membership, error) {
	var out membership
	in.SystemID = strings.TrimSpace(in.SystemID)
	in.MemberRole = strings.TrimSpace(in.MemberRole)
	if in.SystemID == "" && in.MemberRole == "" {
		return out, nil
	}
	if in.MemberRole != "" && !slices.Contains(MemberRoles, in.MemberRole) {
		f.Add("member_role", "Choose owner, admin, member or viewer.")
	} else if in.MemberRole == "" {
		f.Add("member_role", "Choose the membership role for the System, or choose No System.")
	}
	if in.SystemID == "" {
		f.Add("system", "Choose a System for the membership role, or clear the role.")
		return out, nil
	}
	id, err := uuid.Parse(in.SystemID)
	if err != nil {
		f.Add("system", "Choose a System.")
		return out, nil
	}
	sy, err := s.Store.Ent.System.Query().Where(system.ID(id), system.DeletedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		f.Add("system", "That System no longer exists; choose another or No System.")
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.system = sy
	out.role = idpgroupmapping.MemberRole(in.MemberRole)
	return out, nil
}

func (s *Service) validateMapping(ctx context.Context, key string, in *MappingInput, self uuid.UUID) (*ent.Role, membership, error) {
	in.Group = strings.TrimSpace(in.Group)
	f := domain.FieldErrors{}
	if in.Group == "" {
		f.Add("group", "Enter the group as the provider sends it (pick one of the groups seen recently).")
	} else if len(in.Group) > 255 || strings.ContainsRune(in.Group, 0) {
		f.Add("group", "The group name is longer than 255 bytes.")
	}
	var r *ent.Role
	if id, err := uuid.Parse(in.RoleID); err != nil {
		f.Add("role", "Choose a role.")
	} else {
		r, err = s.Store.Ent.Role.Get(ctx, id)
		if ent.IsNotFound(err) {
			f.Add("role", "That role no longer exists; choose another.")
		} else if err != nil {
			return nil, membership{}, err
		}
	}
	envs := []string{}
	for _, e := range []string{"test", "prod"} {
		if slices.Contains(in.Environments, e) {
			envs = append(envs, e)
		}
	}
	for _, e := range in.Environments {
		if e != "test" && e != "prod" {
			f.Add("environments", "Environments are test and production.")
		}
	}
	if len(envs) == 0 {
		f.Add("environments", "Tick at least one environment.")
	}
	in.Environments = envs
	if _, bad := f["group"]; !bad && r != nil {
		q := s.Store.Ent.IdPGroupMapping.Query().Where(idpgroupmapping.Provider(key), idpgroupmapping.GroupName(in.Group), idpgroupmapping.RoleID(r.ID))
		if self != uuid.Nil {
			q = q.Where(idpgroupmapping.IDNEQ(self))
		}
		dup, err := q.Exist(ctx)
		if err != nil {
			return nil, membership{}, err
		}
		if dup {
			f.Add("group", "This group is already mapped to "+r.Name+"; change that row instead.")
		}
	}
	mb, err := s.validateMembership(ctx, in, f)
	if err != nil {
		return nil, membership{}, err
	}
	return r, mb, f.Err()
}

func mappingDetails(group, roleName string, envs []string, member map[string]any) map[string]any {
	d := map[string]any{"group": group, "role": roleName, "environments": envs}
	if member != nil {
		d["membership"] = member
	}
	return d
}

// currentMembership describes a stored mapping's System membership for the audit.
func currentMembership(ctx context.Context, client *ent.Client, m *ent.IdPGroupMapping) (map[string]any, error) {
	if m.SystemID == nil || m.MemberRole == nil {
		return nil, nil
	}
	name := "(a deleted System)"
	sy, err := client.System.Query().Where(system.ID(*m.SystemID), system.DeletedAtIsNil()).Only(ctx)
	if err == nil {
		name = sy.Name
	} else if !ent.IsNotFound(err) {
		return nil, err
	}
	return map[string]any{"system": name, "role": string(*m.MemberRole)}, nil
}

// CreateMapping adds a grid row. It applies at each user's next sign-in (or at once with
// Reevaluate).
func (s *Service) CreateMapping(ctx context.Context, a Actor, key string, in MappingInput) (*ent.IdPGroupMapping, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	if _, err := s.Provider(ctx, key); err != nil {
		return nil, err
	}
	r, mb, err := s.validateMapping(ctx, key, &in, uuid.Nil)
	if err != nil {
		return nil, err
	}
	var out *ent.IdPGroupMapping
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		c := tx.Ent.IdPGroupMapping.Create().SetProvider(key).SetGroupName(in.Group).SetRoleID(r.ID).SetAllowedEnvironments(in.Environments)
		if mb.system != nil {
			c.SetSystemID(mb.system.ID).SetMemberRole(mb.role)
		}
		m, err := c.Save(ctx)
		if err != nil {
			return err
		}
		out = m
		return audit.Write(ctx, tx.Ent, entry(a, "idp.mapping_create", "idp_group_mapping", m.ID.String(), in.Group,
			map[string]any{"provider": key, "after": mappingDetails(in.Group, r.Name, in.Environments, mb.details())}))
	})
	return out, err
}

func (s *Service) mapping(ctx context.Context, client *ent.Client, key string, id uuid.UUID) (*ent.IdPGroupMapping, string, error) {
	m, err := client.IdPGroupMapping.Query().Where(idpgroupmapping.ID(id), idpgroupmapping.Provider(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", domain.Errf(domain.CodeVMStateConflict, "", "This mapping was deleted by someone else meanwhile. Nothing was saved.")
	}
	if err != nil {
		return nil, "", err
	}
	name := "(a deleted role)"
	if r, err := client.Role.Get(ctx, m.RoleID); err == nil {
		name = r.Name
	} else if !ent.IsNotFound(err) {
		return nil, "", err
	}
	return m, name, nil
}

// UpdateMapping changes a grid row made from version in.Version; a change saved
// meanwhile by another admin refuses this one and nothing is saved.
func (s *Service) UpdateMapping(ctx context.Context, a Actor, key string, id uuid.UUID, in MappingInput) (*ent.IdPGroupMapping, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	cur, before, err := s.mapping(ctx, s.Store.Ent, key, id)
	if err != nil {
		return nil, err
	}
	r, mb, err := s.validateMapping(ctx, key, &in, id)
	if err != nil {
		return nil, err
	}
	beforeMember, err := currentMembership(ctx, s.Store.Ent, cur)
	if err != nil {
		return nil, err
	}
	var out *ent.IdPGroupMapping
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u := tx.Ent.IdPGroupMapping.Update().Where(idpgroupmapping.ID(id), idpgroupmapping.Version(in.Version)).
			SetGroupName(in.Group).SetRoleID(r.ID).SetAllowedEnvironments(in.Environments).AddVersion(1)
		if mb.system != nil {
			u.SetSystemID(mb.system.ID).SetMemberRole(mb.role)
		} else {
			u.ClearSystemID().ClearMemberRole()
		}
		n, err := u.Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale("mapping")
		}
		out, err = tx.Ent.IdPGroupMapping.Get(ctx, id)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.mapping_update", "idp_group_mapping", id.String(), in.Group, map[string]any{
			"provider": key,
			"before":   mappingDetails(cur.GroupName, before, cur.AllowedEnvironments, beforeMember),
			"after":    mappingDetails(in.Group, r.Name, in.Environments, mb.details()),
		}))
	})
	return out, err
}

// DeleteMapping removes a grid row seen at version.
func (s *Service) DeleteMapping(ctx context.Context, a Actor, key string, id uuid.UUID, version int) (string, error) {
	if err := check(a); err != nil {
		return "", err
	}
	var group string
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, before, err := s.mapping(ctx, tx.Ent, key, id)
		if err != nil {
			return err
		}
		beforeMember, err := currentMembership(ctx, tx.Ent, cur)
		if err != nil {
			return err
		}
		n, err := tx.Ent.IdPGroupMapping.Delete().Where(idpgroupmapping.ID(id), idpgroupmapping.Version(version)).Exec(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale("mapping")
		}
		group = cur.GroupName
		return audit.Write(ctx, tx.Ent, entry(a, "idp.mapping_delete", "idp_group_mapping", id.String(), cur.GroupName, map[string]any{
			"provider": key,
			"before":   mappingDetails(cur.GroupName, before, cur.AllowedEnvironments, beforeMember),
		}))
	})
	return group, err
}

// Reevaluate applies the provider's current mappings now to its users with a live
// session, from the groups their latest sign-in delivered (their mapped bindings are
// rebuilt exactly as at sign-in). Each user's change is audited, and the run as a whole.
func (s *Service) Reevaluate(ctx context.Context, a Actor, key string) (int, error) {
	if err := check(a); err != nil {
		return 0, err
	}
	pv, err := s.Provider(ctx, key)
	if err != nil {
		return 0, err
	}
	var changed int
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		live, err := tx.Ent.Session.Query().Where(session.RevokedAtIsNil(), session.ExpiresAtGT(s.now()), session.UserIDNotNil()).
			Select(session.FieldUserID).Strings(ctx)
		if err != nil {
			return err
		}
		var ids []uuid.UUID
		for _, l := range live {
			if id, err := uuid.Parse(l); err == nil && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		rows, err := tx.Ent.IdPUserGroups.Query().Where(idpusergroups.Provider(key), idpusergroups.IDIn(ids...)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			u, err := tx.Ent.User.Get(ctx, r.ID)
			if err != nil {
				return err
			}
			if u.Disabled || u.Issuer == nil || *u.Issuer != pv.UserKey {
				continue
			}
			roles, members, err := auth.RebuildBindings(ctx, tx.Ent, r.ID, key, r.Groups)
			if err != nil {
				return err
			}
			changed++
			if err := audit.Write(ctx, tx.Ent, entry(a, "idp.reevaluate_user", "user", u.ID.String(), u.Username,
				map[string]any{"provider": key, "groups": r.Groups, "roles": roles, "memberships": members})); err != nil {
				return err
			}
		}
		return audit.Write(ctx, tx.Ent, entry(a, "idp.reevaluate", "identity_provider", key, pv.Label, map[string]any{"users": changed}))
	})
	return changed, err
}
