// Package seed writes the rows every installation needs (permissions, built-in roles, the
// local admin) and, in development, a demo organisation. Seeding is idempotent: existing
// rows are never overwritten, so an admin's changes survive restarts.
package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/permission"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth/password"
	a "kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
)

// Permissions are the atomic rights; there are no wildcards.
var Permissions = []struct{ ID, Description string }{
	{a.SystemRead, "See Systems"}, {a.SystemWrite, "Create and edit Systems"}, {a.SystemDelete, "Delete Systems"},
	{a.ServiceRead, "See Services"}, {a.ServiceCreate, "Create Services"}, {a.ServiceDelete, "Delete Services"},
	{a.VMRead, "See virtual machines"}, {a.VMCreate, "Request virtual machines"},
	{a.VMOperate, "Start, stop and restart virtual machines"}, {a.VMDelete, "Request deletion of virtual machines"},
	{a.VNCAccess, "Open VM consoles"}, {a.ApprovalApprove, "Approve and reject requests"},
	{a.ApprovalView, "See the approval inbox"}, {a.ClusterManage, "Manage clusters"},
	{a.TemplateManage, "Manage templates"}, {a.RBACManage, "Manage role bindings"},
	{a.AuditRead, "Read the audit log"}, {a.PlatformAdmin, "Everything, everywhere (super-admin)"},
}

// BuiltinRole is a locked role with its permissions.
type BuiltinRole struct {
	Name, Description string
	Permissions       []string
}

// BuiltinRoles follow spec/flows.md §1.2, with platform:admin and audit:read added to
// PlatformAdmin (DESIGN §3.7). There is no wildcard Bootstrap role.
var BuiltinRoles = []BuiltinRole{
	{"PlatformAdmin", "Runs the platform: every permission in every environment.", []string{
		a.SystemRead, a.SystemWrite, a.SystemDelete, a.ServiceRead, a.ServiceCreate, a.ServiceDelete,
		a.VMRead, a.VMCreate, a.VMOperate, a.VMDelete, a.VNCAccess, a.ApprovalApprove, a.ApprovalView,
		a.ClusterManage, a.TemplateManage, a.RBACManage, a.AuditRead, a.PlatformAdmin}},
	{"SystemAdmin", "Full self-service on Systems, Services and VMs; manages members of own Systems.", []string{
		a.SystemRead, a.SystemWrite, a.SystemDelete, a.ServiceRead, a.ServiceCreate, a.ServiceDelete,
		a.VMRead, a.VMCreate, a.VMOperate, a.VMDelete, a.VNCAccess, a.RBACManage}},
	{"Approver", "Decides VM requests: picks cluster, storage and template version.", []string{
		a.ApprovalApprove, a.ApprovalView, a.VMRead, a.SystemRead, a.ServiceRead}},
	{"Operator", "Requests and operates VMs, opens consoles.", []string{
		a.SystemRead, a.ServiceRead, a.VMRead, a.VMCreate, a.VMOperate, a.VNCAccess}},
	{"Viewer", "Read-only access to Systems they are a member of.", []string{
		a.SystemRead, a.ServiceRead, a.VMRead}},
}

// AdminUsername is the local bootstrap account; its first password is "admin" and must be changed.
const AdminUsername = "admin"

// Base seeds permissions, built-in roles and the local admin, in one transaction.
func Base(ctx context.Context, store *db.Store) error {
	return store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for _, p := range Permissions {
			if err := ignoreNoRows(tx.Ent.Permission.Create().SetID(p.ID).SetDescription(p.Description).
				OnConflictColumns(permission.FieldID).DoNothing().Exec(ctx)); err != nil {
				return fmt.Errorf("seed permission %s: %w", p.ID, err)
			}
		}
		for _, r := range BuiltinRoles {
			exists, err := tx.Ent.Role.Query().Where(role.Name(r.Name)).Exist(ctx)
			if err != nil {
				return err
			}
			if exists {
				continue
			}
			if err := tx.Ent.Role.Create().SetName(r.Name).SetDescription(r.Description).SetIsBuiltin(true).
				AddPermissionIDs(r.Permissions...).Exec(ctx); err != nil {
				return fmt.Errorf("seed role %s: %w", r.Name, err)
			}
		}
		// The bootstrap admin is created only while no local account exists at all: an
		// operator who renamed or replaced it must not get a fresh admin/admin back.
		exists, err := tx.Ent.User.Query().Where(user.AuthTypeEQ(user.AuthTypeLocal)).Exist(ctx)
		if err != nil || exists {
			return err
		}
		hash, err := password.Hash("admin")
		if err != nil {
			return err
		}
		admin, err := tx.Ent.User.Create().SetUsername(AdminUsername).SetDisplayName("Administrator").
			SetAuthType(user.AuthTypeLocal).SetPasswordHash(hash).SetForcePasswordChange(true).Save(ctx)
		if err != nil {
			return err
		}
		return bind(ctx, tx.Ent, admin, "PlatformAdmin", []string{"test", "prod"}, rolebinding.SourceSeed)
	})
}

func bind(ctx context.Context, c *ent.Client, u *ent.User, roleName string, envs []string, src rolebinding.Source) error {
	r, err := c.Role.Query().Where(role.Name(roleName)).Only(ctx)
	if err != nil {
		return fmt.Errorf("role %s: %w", roleName, err)
	}
	return ignoreNoRows(c.RoleBinding.Create().SetUserID(u.ID).SetRoleID(r.ID).SetAllowedEnvironments(envs).SetSource(src).
		OnConflictColumns(rolebinding.FieldUserID, rolebinding.FieldRoleID, rolebinding.FieldScopeType, rolebinding.FieldScopeID).
		DoNothing().Exec(ctx))
}

// ignoreNoRows: DO NOTHING upserts report sql.ErrNoRows when the row already existed.
func ignoreNoRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}
