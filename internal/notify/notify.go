// Package notify writes in-app notifications. Senders call Send inside the use case's
// transaction, so a notification exists exactly when the change it reports committed.
package notify

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/permission"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/authz"
)

// Message is one notification for several recipients.
type Message struct {
	Type     notification.Type
	Title    string
	Body     string
	Link     string
	TicketID *uuid.UUID
}

// Send writes the message for each distinct recipient.
func Send(ctx context.Context, client *ent.Client, recipients []uuid.UUID, m Message) error {
	seen := map[uuid.UUID]bool{}
	var builders []*ent.NotificationCreate
	for _, r := range recipients {
		if seen[r] {
			continue
		}
		seen[r] = true
		builders = append(builders, client.Notification.Create().SetRecipientID(r).SetType(m.Type).SetTitle(m.Title).
			SetBody(m.Body).SetLink(m.Link).SetNillableTicketID(m.TicketID))
	}
	if len(builders) == 0 {
		return nil
	}
	return client.Notification.CreateBulk(builders...).Exec(ctx)
}

// HoldersOf returns the enabled users holding perm for env through a global binding, plus
// every platform admin, so approval requests reach everyone who can act on them.
func HoldersOf(ctx context.Context, client *ent.Client, perm, env string) ([]uuid.UUID, error) {
	bindings, err := client.RoleBinding.Query().
		Where(rolebinding.ScopeTypeEQ(rolebinding.ScopeTypeGlobal),
			rolebinding.HasRoleWith(role.HasPermissionsWith(permission.IDIn(perm, authz.PlatformAdmin))),
			rolebinding.HasUserWith(user.Disabled(false))).
		WithRole(func(q *ent.RoleQuery) { q.WithPermissions() }).
		All(ctx)
	if err != nil {
		return nil, err
	}
	var out []uuid.UUID
	for _, b := range bindings {
		admin := false
		for _, p := range b.Edges.Role.Edges.Permissions {
			admin = admin || p.ID == authz.PlatformAdmin
		}
		if admin || slices.Contains(b.AllowedEnvironments, env) {
			out = append(out, b.UserID)
		}
	}
	return out, nil
}
