package notify_test

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func inboxClient(t *testing.T) *ent.Client {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	return store.Ent
}

// putNote writes one notification created at base+minutes, read when read is set.
func putNote(t *testing.T, c *ent.Client, to uuid.UUID, title string, minutes int, read bool) *ent.Notification {
	t.Helper()
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b := c.Notification.Create().SetRecipientID(to).SetType(notification.TypeREQUEST_APPROVED).SetTitle(title).
		SetCreatedAt(base.Add(time.Duration(minutes) * time.Minute))
	if read {
		b.SetReadAt(base.Add(time.Hour))
	}
	return b.SaveX(t.Context())
}

func noteTitles(items []*ent.Notification) []string {
	var out []string
	for _, n := range items {
		out = append(out, n.Title)
	}
	return out
}

func TestInboxListsOwnUnreadFirstThenNewest(t *testing.T) {
	c := inboxClient(t)
	ctx := t.Context()
	alice, bob := uuid.New(), uuid.New()
	putNote(t, c, alice, "old unread", 1, false)
	putNote(t, c, alice, "new read", 5, true)
	putNote(t, c, alice, "newer unread", 3, false)
	putNote(t, c, alice, "oldest read", 0, true)
	putNote(t, c, bob, "bob's", 9, false)

	got, err := notify.List(ctx, c, notify.InboxQuery{Recipient: alice})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"newer unread", "old unread", "new read", "oldest read"}
	if !slices.Equal(noteTitles(got.Items), want) || got.Total != 4 || got.Unread != 2 || got.Page.PerPage != paging.DefaultPerPage {
		t.Fatalf("all: %v total=%d unread=%d per=%d; want %v", noteTitles(got.Items), got.Total, got.Unread, got.Page.PerPage, want)
	}

	got, err = notify.List(ctx, c, notify.InboxQuery{Recipient: alice, UnreadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(noteTitles(got.Items), []string{"newer unread", "old unread"}) || got.Total != 2 {
		t.Fatalf("unread: %v total=%d", noteTitles(got.Items), got.Total)
	}

	// Page 2 of size 3 holds the last one; a page past the end shows the last page.
	got, err = notify.List(ctx, c, notify.InboxQuery{Recipient: alice, Page: paging.Page{Number: 2, PerPage: 3}})
	if err != nil || !slices.Equal(noteTitles(got.Items), []string{"oldest read"}) || got.Page.Number != 2 {
		t.Fatalf("page 2: %v page=%d err=%v", noteTitles(got.Items), got.Page.Number, err)
	}
	for _, n := range []int{99, math.MaxInt} {
		got, err = notify.List(ctx, c, notify.InboxQuery{Recipient: alice, Page: paging.Page{Number: n, PerPage: 3}})
		if err != nil || got.Page.Number != 2 || !slices.Equal(noteTitles(got.Items), []string{"oldest read"}) {
			t.Fatalf("page %d clamped to %d, err=%v", n, got.Page.Number, err)
		}
	}

	empty, err := notify.List(ctx, c, notify.InboxQuery{Recipient: uuid.New()})
	if err != nil || len(empty.Items) != 0 || empty.Total != 0 || empty.Page.Number != 1 {
		t.Fatalf("empty inbox: %+v %v", empty, err)
	}
}

func TestInboxClampsPerPage(t *testing.T) {
	c := inboxClient(t)
	alice := uuid.New()
	putNote(t, c, alice, "one", 1, false)
	for in, want := range map[int]int{-1: 20, 0: 20, 1: 1, 50: 50, 100: 100, 101: 100, 5000: 100, math.MaxInt: 100} {
		got, err := notify.List(t.Context(), c, notify.InboxQuery{Recipient: alice, Page: paging.Page{PerPage: in}})
		if err != nil || got.Page.PerPage != want || len(got.Items) != 1 {
			t.Errorf("per page %d: %+v, %d items, %v; want %d", in, got.Page, len(got.Items), err, want)
		}
	}
}

func TestMarkReadTouchesOnlyTheOwnersItem(t *testing.T) {
	c := inboxClient(t)
	ctx := t.Context()
	alice, bob := uuid.New(), uuid.New()
	mine := putNote(t, c, alice, "mine", 1, false)
	theirs := putNote(t, c, bob, "theirs", 1, false)
	now := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)

	if _, err := notify.MarkRead(ctx, c, alice, theirs.ID, now); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("marking someone else's: err = %v, want ErrNotFound", err)
	}
	if n := c.Notification.GetX(ctx, theirs.ID); n.ReadAt != nil {
		t.Fatal("someone else's notification was marked read")
	}
	if _, err := notify.MarkRead(ctx, c, alice, uuid.New(), now); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}

	n, err := notify.MarkRead(ctx, c, alice, mine.ID, now)
	if err != nil || n.ReadAt == nil || !n.ReadAt.Equal(now) {
		t.Fatalf("mark read: %+v %v", n, err)
	}
	// Idempotent: a second mark keeps the first read time.
	n, err = notify.MarkRead(ctx, c, alice, mine.ID, now.Add(time.Hour))
	if err != nil || !n.ReadAt.Equal(now) {
		t.Fatalf("second mark: %v %v", n.ReadAt, err)
	}
	if got, _ := notify.UnreadCount(ctx, c, alice); got != 0 {
		t.Fatalf("alice unread = %d", got)
	}
	if got, _ := notify.UnreadCount(ctx, c, bob); got != 1 {
		t.Fatalf("bob unread = %d", got)
	}
}

func TestMarkAllReadAndUnreadCount(t *testing.T) {
	c := inboxClient(t)
	ctx := t.Context()
	alice, bob := uuid.New(), uuid.New()
	ticket := uuid.New()
	// Send is how use cases write; recipients are de-duplicated.
	err := notify.Send(ctx, c, []uuid.UUID{alice, alice, bob}, notify.Message{Type: notification.TypeAPPROVAL_REQUIRED,
		Title: "VM request waiting", Link: "/approvals/x", TicketID: &ticket})
	if err != nil {
		t.Fatal(err)
	}
	putNote(t, c, alice, "second", 1, false)
	putNote(t, c, alice, "already read", 2, true)
	if got, err := notify.UnreadCount(ctx, c, alice); err != nil || got != 2 {
		t.Fatalf("alice unread = %d, %v; want 2", got, err)
	}

	n, err := notify.MarkAllRead(ctx, c, alice, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("MarkAllRead = %d, %v; want 2", n, err)
	}
	if n, _ := notify.MarkAllRead(ctx, c, alice, time.Now()); n != 0 {
		t.Fatalf("second MarkAllRead = %d, want 0", n)
	}
	if got, _ := notify.UnreadCount(ctx, c, alice); got != 0 {
		t.Fatalf("alice unread after read-all = %d", got)
	}
	if got, _ := notify.UnreadCount(ctx, c, bob); got != 1 {
		t.Fatalf("bob unread = %d, read-all leaked across users", got)
	}
}
