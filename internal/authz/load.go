package authz

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
)

// Load reads the user's bindings (with role permissions) and live System memberships.
func Load(ctx context.Context, client *ent.Client, userID uuid.UUID, username string) (*Principal, error) {
	rbs, err := client.RoleBinding.Query().
		Where(rolebinding.UserID(userID)).
		WithRole(func(q *ent.RoleQuery) { q.WithPermissions() }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load role bindings: %w", err)
	}
	bindings := make([]Binding, 0, len(rbs))
	for _, rb := range rbs {
		b := Binding{ScopeType: string(rb.ScopeType), ScopeID: rb.ScopeID, Environments: rb.AllowedEnvironments, Source: string(rb.Source)}
		if rb.Edges.Role != nil {
			b.Role = rb.Edges.Role.Name
			for _, perm := range rb.Edges.Role.Edges.Permissions {
				b.Permissions = append(b.Permissions, perm.ID)
			}
			sort.Strings(b.Permissions)
		}
		bindings = append(bindings, b)
	}
	sort.Slice(bindings, func(i, j int) bool { return bindings[i].Role < bindings[j].Role })

	ms, err := client.SystemMember.Query().
		Where(systemmember.UserID(userID), systemmember.HasSystemWith(system.DeletedAtIsNil())).
		WithSystem().
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load memberships: %w", err)
	}
	memberships := make([]Membership, 0, len(ms))
	for _, m := range ms {
		memberships = append(memberships, Membership{SystemID: m.SystemID, SystemName: m.Edges.System.Name, Role: MemberRole(m.Role)})
	}
	sort.Slice(memberships, func(i, j int) bool { return memberships[i].SystemName < memberships[j].SystemName })
	return NewPrincipal(userID, username, bindings, memberships), nil
}
