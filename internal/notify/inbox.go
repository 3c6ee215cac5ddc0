package notify

import (
	"context"
	"errors"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ErrNotFound means the notification does not exist or belongs to someone else; the two
// are indistinguishable on purpose, so ids of other people's items reveal nothing.
var ErrNotFound = errors.New("notification not found")

// InboxQuery selects one page of a user's inbox.
type InboxQuery struct {
	Recipient  uuid.UUID
	UnreadOnly bool
	Page       paging.Page // 20 rows by default, at most 100; past the end is the last page
}

// Inbox is one page of notifications, unread first, then newest first.
type Inbox struct {
	Items  []*ent.Notification
	Total  int         // matching the query (all or unread)
	Unread int         // unread in the whole inbox, for the tab label
	Page   paging.Page // the page shown
}

// List returns one page of the recipient's inbox. Both filters are served by the
// (recipient_id, created_at) index or, for unread only, the partial unread index.
func List(ctx context.Context, client *ent.Client, q InboxQuery) (Inbox, error) {
	out := Inbox{Page: q.Page.Standard()}
	unread, err := UnreadCount(ctx, client, q.Recipient)
	if err != nil {
		return out, err
	}
	out.Unread = unread
	base := client.Notification.Query().Where(notification.RecipientID(q.Recipient))
	if q.UnreadOnly {
		base = base.Where(notification.ReadAtIsNil())
		out.Total = unread
	} else if out.Total, err = base.Clone().Count(ctx); err != nil {
		return out, err
	}
	out.Page = out.Page.Within(out.Total)
	out.Items, err = base.
		Order(func(s *entsql.Selector) { s.OrderExpr(entsql.Expr(s.C(notification.FieldReadAt) + " IS NOT NULL")) },
			ent.Desc(notification.FieldCreatedAt), ent.Desc(notification.FieldID)).
		Offset(out.Page.Offset()).Limit(out.Page.Limit()).
		All(ctx)
	return out, err
}

// Latest returns the recipient's n latest notifications, unread first (the dashboard's
// list), in one statement on the (recipient_id, created_at) index.
func Latest(ctx context.Context, client *ent.Client, recipient uuid.UUID, n int) ([]*ent.Notification, error) {
	return client.Notification.Query().Where(notification.RecipientID(recipient)).
		Order(func(s *entsql.Selector) { s.OrderExpr(entsql.Expr(s.C(notification.FieldReadAt) + " IS NOT NULL")) },
			ent.Desc(notification.FieldCreatedAt), ent.Desc(notification.FieldID)).
		Limit(n).All(ctx)
}

// UnreadCount is the number on the bell: one COUNT(*) on the partial unread index.
func UnreadCount(ctx context.Context, client *ent.Client, recipient uuid.UUID) (int, error) {
	return db.Count(ctx, client, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL`, recipient)
}

// Get returns one of the recipient's notifications, or ErrNotFound.
func Get(ctx context.Context, client *ent.Client, recipient, id uuid.UUID) (*ent.Notification, error) {
	n, err := client.Notification.Query().Where(notification.ID(id), notification.RecipientID(recipient)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return n, err
}

// MarkRead marks one of the recipient's notifications read and returns it. Marking an
// item that is already read keeps its first read time.
func MarkRead(ctx context.Context, client *ent.Client, recipient, id uuid.UUID, now time.Time) (*ent.Notification, error) {
	_, err := client.Notification.Update().
		Where(notification.ID(id), notification.RecipientID(recipient), notification.ReadAtIsNil()).
		SetReadAt(now).Save(ctx)
	if err != nil {
		return nil, err
	}
	return Get(ctx, client, recipient, id)
}

// MarkAllRead marks every unread notification of the recipient read and returns how many.
func MarkAllRead(ctx context.Context, client *ent.Client, recipient uuid.UUID, now time.Time) (int, error) {
	return client.Notification.Update().
		Where(notification.RecipientID(recipient), notification.ReadAtIsNil()).
		SetReadAt(now).Save(ctx)
}
