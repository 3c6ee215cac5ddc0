// Package notify writes in-app notifications. Senders call Send inside the use case's
// transaction, so a notification exists exactly when the change it reports committed.
package notify

import (
	"context"
	"fmt"
	"slices"
	"time"

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

// DigestWindow is how long an unread approval request keeps gathering the ones that
// follow it: an approver's bell grows by one entry per batch, not one per request.
const DigestWindow = 15 * time.Minute

// Send writes the message for each distinct recipient. An approval request for someone
// who has an unread one from the last DigestWindow is folded into it ("3 requests wait
// for your approval", linking to the inbox) instead of adding another entry.
func Send(ctx context.Context, client *ent.Client, recipients []uuid.UUID, m Message) error {
	seen := map[uuid.UUID]bool{}
	var builders []*ent.NotificationCreate
	for _, r := range recipients {
		if seen[r] {
			continue
		}
		seen[r] = true
		if m.Type == notification.TypeAPPROVAL_REQUIRED {
			folded, err := foldIntoDigest(ctx, client, r, m)
			if err != nil {
				return err
			}
			if folded {
				continue
			}
		}
		builders = append(builders, client.Notification.Create().SetRecipientID(r).SetType(m.Type).SetTitle(m.Title).
			SetBody(m.Body).SetLink(m.Link).SetNillableTicketID(m.TicketID))
	}
	if len(builders) == 0 {
		return nil
	}
	return client.Notification.CreateBulk(builders...).Exec(ctx)
}

// foldIntoDigest adds m to the recipient's recent unread approval entry, if there is one.
// The row is locked, so requests submitted at the same moment count each other.
func foldIntoDigest(ctx context.Context, client *ent.Client, recipient uuid.UUID, m Message) (bool, error) {
	n, err := client.Notification.Query().
		Where(notification.RecipientID(recipient), notification.TypeEQ(notification.TypeAPPROVAL_REQUIRED),
			notification.ReadAtIsNil(), notification.CreatedAtGT(time.Now().Add(-DigestWindow))).
		Order(ent.Desc(notification.FieldCreatedAt)).ForUpdate().First(ctx)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	count := n.Count + 1
	err = n.Update().SetCount(count).SetTitle(fmt.Sprintf("%d requests wait for your approval", count)).
		SetBody("Latest: " + m.Title).SetLink("/approvals").ClearTicketID().Exec(ctx)
	return err == nil, err
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
