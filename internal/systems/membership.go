package systems

import (
	"context"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// MemberInput is the add-member form.
type MemberInput struct {
	UserID string
	Role   string
}

// Every membership change is audited on the System (resource_type "system") with the
// scope "system:<name>", so the System's history tab shows who was let in and by whom.
func memberAudit(ctx context.Context, c *ent.Client, a Actor, s *ent.System, action string, details map[string]any) error {
	details["scope"] = scopeOf(s)
	return audit.Write(ctx, c, audit.Entry{Action: action, ActorID: &a.ID, ActorName: a.Name,
		ResourceType: "system", ResourceID: s.ID.String(), ResourceName: s.Name, Details: details})
}

// AddMember grants a role on the System to a user who is not yet a member.
func (m *Manager) AddMember(ctx context.Context, a Actor, systemID uuid.UUID, in MemberInput) error {
	if err := authorizeMembers(a.Principal, systemID); err != nil {
		return err
	}
	fe := domain.FieldErrors{}
	uid, ok := parseUserID(in.UserID)
	if !ok {
		fe.Add("user_id", "Search for a person and choose them from the list.")
	}
	role, msg := parseGrantableRole(actorRole(a.Principal, systemID), in.Role)
	if msg != "" {
		fe.Add("role", msg)
	}
	if err := fe.Err(); err != nil {
		return err
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		s, err := lockLiveSystem(ctx, tx.Ent, systemID)
		if err != nil {
			return err
		}
		u, err := tx.Ent.User.Query().Where(user.ID(uid), user.Disabled(false)).Only(ctx)
		if ent.IsNotFound(err) {
			return domain.FieldErrors{"user_id": "This person does not exist or is disabled."}.Err()
		}
		if err != nil {
			return err
		}
		existing, err := tx.Ent.SystemMember.Query().Where(systemmember.SystemID(systemID), systemmember.UserID(uid)).Only(ctx)
		if err == nil {
			return domain.FieldErrors{"user_id": displayName(u) + " is already a member (" + string(existing.Role) + ")."}.Err()
		}
		if !ent.IsNotFound(err) {
			return err
		}
		if err := tx.Ent.SystemMember.Create().SetSystemID(systemID).SetUserID(uid).
			SetRole(systemmember.Role(role)).SetGrantedBy(a.ID).SetSource(systemmember.SourceManual).Exec(ctx); err != nil {
			return err
		}
		return memberAudit(ctx, tx.Ent, a, s, "role.assign", map[string]any{
			"user": u.Username, "user_id": u.ID.String(), "role": string(role)})
	})
}

// ChangeMemberRole changes a member's role. The owner row is fixed (ownership moves only
// by transfer), and nobody can promote someone to owner here.
func (m *Manager) ChangeMemberRole(ctx context.Context, a Actor, systemID, userID uuid.UUID, rawRole string) error {
	if err := authorizeMembers(a.Principal, systemID); err != nil {
		return err
	}
	role, msg := parseGrantableRole(actorRole(a.Principal, systemID), rawRole)
	if msg != "" {
		return domain.FieldErrors{"role": msg}.Err()
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		s, err := lockLiveSystem(ctx, tx.Ent, systemID)
		if err != nil {
			return err
		}
		mb, err := memberOf(ctx, tx.Ent, systemID, userID)
		if err != nil {
			return err
		}
		if mb.Role == systemmember.RoleOwner {
			return ownerRowError()
		}
		if string(mb.Role) == string(role) {
			return nil
		}
		if err := tx.Ent.SystemMember.UpdateOne(mb).SetRole(systemmember.Role(role)).SetGrantedBy(a.ID).SetSource(systemmember.SourceManual).Exec(ctx); err != nil {
			return err
		}
		return memberAudit(ctx, tx.Ent, a, s, "role.update", map[string]any{
			"user": mb.Edges.User.Username, "user_id": userID.String(), "old_role": string(mb.Role), "new_role": string(role)})
	})
}

// RemoveMember revokes a membership. The owner cannot be removed, so a System never
// loses its last owner.
func (m *Manager) RemoveMember(ctx context.Context, a Actor, systemID, userID uuid.UUID) error {
	if err := authorizeMembers(a.Principal, systemID); err != nil {
		return err
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		s, err := lockLiveSystem(ctx, tx.Ent, systemID)
		if err != nil {
			return err
		}
		mb, err := memberOf(ctx, tx.Ent, systemID, userID)
		if err != nil {
			return err
		}
		if mb.Role == systemmember.RoleOwner {
			return ownerRowError()
		}
		if err := tx.Ent.SystemMember.DeleteOne(mb).Exec(ctx); err != nil {
			return err
		}
		return memberAudit(ctx, tx.Ent, a, s, "role.revoke", map[string]any{
			"user": mb.Edges.User.Username, "user_id": userID.String(), "role": string(mb.Role)})
	})
}

// TransferOwnership makes another member the owner; the previous owner stays as admin.
// Only the owner may do it (platform admins too, for when an owner has left).
func (m *Manager) TransferOwnership(ctx context.Context, a Actor, systemID uuid.UUID, newOwner string) error {
	if err := authorize(a.Principal, authz.SystemRead, authz.SystemRead, authz.TransferOwnership, systemID, "System"); err != nil {
		if IsForbidden(err) {
			return forbidden("Only the owner can transfer ownership.")
		}
		return err
	}
	uid, ok := parseUserID(newOwner)
	if !ok {
		return domain.FieldErrors{"new_owner": "Choose the member who becomes the owner."}.Err()
	}
	return m.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		s, err := lockLiveSystem(ctx, tx.Ent, systemID)
		if err != nil {
			return err
		}
		target, err := tx.Ent.SystemMember.Query().Where(systemmember.SystemID(systemID), systemmember.UserID(uid)).WithUser().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.FieldErrors{"new_owner": "The new owner must already be a member of this System."}.Err()
		}
		if err != nil {
			return err
		}
		if target.Role == systemmember.RoleOwner {
			return domain.FieldErrors{"new_owner": displayName(target.Edges.User) + " is already the owner."}.Err()
		}
		owners, err := tx.Ent.SystemMember.Query().
			Where(systemmember.SystemID(systemID), systemmember.RoleEQ(systemmember.RoleOwner)).WithUser().All(ctx)
		if err != nil {
			return err
		}
		var previous []string
		for _, o := range owners {
			if err := tx.Ent.SystemMember.UpdateOne(o).SetRole(systemmember.RoleAdmin).SetGrantedBy(a.ID).SetSource(systemmember.SourceManual).Exec(ctx); err != nil {
				return err
			}
			previous = append(previous, o.Edges.User.Username)
		}
		if err := tx.Ent.SystemMember.UpdateOne(target).SetRole(systemmember.RoleOwner).SetGrantedBy(a.ID).SetSource(systemmember.SourceManual).Exec(ctx); err != nil {
			return err
		}
		return memberAudit(ctx, tx.Ent, a, s, "system.transfer_ownership", map[string]any{
			"from": previous, "to": target.Edges.User.Username, "to_user_id": uid.String(),
			"previous_role": string(target.Role)})
	})
}

func memberOf(ctx context.Context, c *ent.Client, systemID, userID uuid.UUID) (*ent.SystemMember, error) {
	mb, err := c.SystemMember.Query().Where(systemmember.SystemID(systemID), systemmember.UserID(userID)).WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Member")
	}
	return mb, err
}
