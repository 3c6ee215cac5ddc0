// Package authz resolves what a user may do: global role bindings (permissions per
// environment) combined with System membership, exactly as spec/flows.md §1.3.
package authz

import (
	"slices"

	"github.com/google/uuid"
)

// Permission strings. There are no wildcards; platform:admin short-circuits every check.
const (
	SystemRead      = "system:read"
	SystemWrite     = "system:write"
	SystemDelete    = "system:delete"
	ServiceRead     = "service:read"
	ServiceCreate   = "service:create"
	ServiceDelete   = "service:delete"
	VMRead          = "vm:read"
	VMCreate        = "vm:create"
	VMOperate       = "vm:operate"
	VMDelete        = "vm:delete"
	VNCAccess       = "vnc:access"
	ApprovalApprove = "approval:approve"
	ApprovalView    = "approval:view"
	ClusterManage   = "cluster:manage"
	TemplateManage  = "template:manage"
	RBACManage      = "rbac:manage"
	AuditRead       = "audit:read"
	PlatformAdmin   = "platform:admin"
)

// Environments a namespace, cluster or binding can carry.
const (
	EnvTest = "test"
	EnvProd = "prod"
)

// MemberRole is a user's role on a System, inherited by its Services and VMs.
type MemberRole string

const (
	Owner  MemberRole = "owner"
	Admin  MemberRole = "admin"
	Member MemberRole = "member"
	Viewer MemberRole = "viewer"
)

// Action is what a user wants to do to a resource in a System subtree.
type Action int

const (
	View Action = iota
	Create
	Update
	Delete
	ManageMembers
	TransferOwnership
)

// allows is the resource-role matrix of flows §1.3.
func (r MemberRole) allows(a Action) bool {
	switch a {
	case View:
		return r == Owner || r == Admin || r == Member || r == Viewer
	case Create:
		return r == Owner || r == Admin || r == Member
	case Update, Delete, ManageMembers:
		return r == Owner || r == Admin
	case TransferOwnership:
		return r == Owner
	}
	return false
}

// CanGrant says which roles this member may hand out: owners anything, admins all but owner.
func (r MemberRole) CanGrant(target MemberRole) bool {
	switch r {
	case Owner:
		return true
	case Admin:
		return target != Owner
	}
	return false
}

// Decision is the outcome of a resource check. Invisible resources answer 404, not 403.
type Decision int

const (
	Deny Decision = iota
	Allow
	Invisible
)

// Binding is one resolved global (or System-scoped) role binding.
type Binding struct {
	Role         string
	Permissions  []string
	ScopeType    string // "global" or "system"
	ScopeID      string
	Environments []string
	Source       string
}

// Membership is a user's role on one System.
type Membership struct {
	SystemID   uuid.UUID
	SystemName string
	Role       MemberRole
}

// Principal is everything needed to decide a request, loaded once per request.
type Principal struct {
	UserID      uuid.UUID
	Username    string
	Bindings    []Binding
	Memberships []Membership

	admin  bool
	global map[string]map[string]bool            // permission -> environments
	scoped map[string]map[string]map[string]bool // system id -> permission -> environments
	member map[uuid.UUID]MemberRole
}

// NewPrincipal indexes bindings and memberships for fast checks.
func NewPrincipal(userID uuid.UUID, username string, bindings []Binding, memberships []Membership) *Principal {
	p := &Principal{UserID: userID, Username: username, Bindings: bindings, Memberships: memberships,
		global: map[string]map[string]bool{}, scoped: map[string]map[string]map[string]bool{}, member: map[uuid.UUID]MemberRole{}}
	for _, b := range bindings {
		target := p.global
		if b.ScopeType == "system" {
			if p.scoped[b.ScopeID] == nil {
				p.scoped[b.ScopeID] = map[string]map[string]bool{}
			}
			target = p.scoped[b.ScopeID]
		}
		for _, perm := range b.Permissions {
			if perm == PlatformAdmin && b.ScopeType != "system" {
				p.admin = true
			}
			if target[perm] == nil {
				target[perm] = map[string]bool{}
			}
			for _, e := range b.Environments {
				target[perm][e] = true
			}
		}
	}
	for _, m := range memberships {
		p.member[m.SystemID] = m.Role
	}
	return p
}

// IsPlatformAdmin reports the explicit super-admin permission.
func (p *Principal) IsPlatformAdmin() bool { return p != nil && p.admin }

// Has reports whether the user holds perm globally in any environment.
func (p *Principal) Has(perm string) bool {
	if p == nil {
		return false
	}
	return p.admin || p.global[perm] != nil
}

// HasIn reports whether the user holds perm globally for environment env.
func (p *Principal) HasIn(perm, env string) bool {
	if p == nil {
		return false
	}
	return p.admin || p.global[perm][env]
}

// Environments lists the environments in which the user holds perm, sorted.
func (p *Principal) Environments(perm string) []string {
	if p.IsPlatformAdmin() {
		return []string{EnvProd, EnvTest}
	}
	var out []string
	for e := range p.global[perm] {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// SystemRole returns the user's membership role on a System.
func (p *Principal) SystemRole(systemID uuid.UUID) (MemberRole, bool) {
	if p == nil {
		return "", false
	}
	r, ok := p.member[systemID]
	return r, ok
}

// Check decides perm + action on a resource of the System systemID, in environment env
// ("" for Systems and Services, which have none). Steps as flows §1.3:
// platform admin allows; a missing global permission denies; no membership makes the
// resource invisible; otherwise the membership role decides.
func (p *Principal) Check(perm string, action Action, systemID uuid.UUID, env string) Decision {
	if p == nil {
		return Invisible
	}
	if p.admin {
		return Allow
	}
	if !p.holds(perm, systemID, env) {
		// Without the read permission the resource is invisible too.
		if !p.holds(readPermissionFor(perm), systemID, env) {
			return Invisible
		}
		return Deny
	}
	role, ok := p.member[systemID]
	if !ok {
		return Invisible
	}
	if !role.allows(action) {
		return Deny
	}
	return Allow
}

func (p *Principal) holds(perm string, systemID uuid.UUID, env string) bool {
	check := func(envs map[string]bool) bool {
		if envs == nil {
			return false
		}
		return env == "" || envs[env]
	}
	return check(p.global[perm]) || check(p.scoped[systemID.String()][perm])
}

func readPermissionFor(perm string) string {
	switch perm {
	case SystemWrite, SystemDelete, SystemRead:
		return SystemRead
	case ServiceCreate, ServiceDelete, ServiceRead:
		return ServiceRead
	default:
		return VMRead
	}
}
