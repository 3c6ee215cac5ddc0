package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/internal/notify"
)

func approvalRequest(n int) notify.Message {
	id := uuid.New()
	return notify.Message{Type: notification.TypeAPPROVAL_REQUIRED, Title: "VM request " + string(rune('A'+n)),
		Link: "/approvals/" + id.String(), TicketID: &id}
}

// Approval requests arriving while an approver has not read the last one are gathered
// into one unread entry that links to the inbox; other kinds of notification are not.
func TestApprovalRequestsAreGatheredIntoOneEntry(t *testing.T) {
	c := inboxClient(t)
	ctx := t.Context()
	bob, dana := uuid.New(), uuid.New()
	if err := notify.Send(ctx, c, []uuid.UUID{bob, dana}, approvalRequest(0)); err != nil {
		t.Fatal(err)
	}
	first := c.Notification.Query().Where(notification.RecipientID(bob)).OnlyX(ctx)
	if first.Count != 1 || first.Link == "/approvals" || first.TicketID == nil {
		t.Fatalf("a single request: %+v", first)
	}
	for i := 1; i < 5; i++ {
		if err := notify.Send(ctx, c, []uuid.UUID{bob}, approvalRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	rows := c.Notification.Query().Where(notification.RecipientID(bob)).AllX(ctx)
	if len(rows) != 1 {
		t.Fatalf("%d entries for 5 requests, want 1", len(rows))
	}
	d := rows[0]
	if d.Count != 5 || d.Title != "5 requests wait for your approval" || d.Link != "/approvals" || d.TicketID != nil || d.Body != "Latest: VM request E" {
		t.Errorf("digest = count %d, %q, %q, %q, ticket %v", d.Count, d.Title, d.Body, d.Link, d.TicketID)
	}
	if n, _ := notify.UnreadCount(ctx, c, bob); n != 1 {
		t.Errorf("bell shows %d, want 1", n)
	}
	if n := c.Notification.Query().Where(notification.RecipientID(dana)).CountX(ctx); n != 1 {
		t.Errorf("dana has %d entries", n)
	}

	// Once read, the next request is news again.
	if _, err := notify.MarkAllRead(ctx, c, bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := notify.Send(ctx, c, []uuid.UUID{bob}, approvalRequest(6)); err != nil {
		t.Fatal(err)
	}
	if n, _ := notify.UnreadCount(ctx, c, bob); n != 1 {
		t.Errorf("after reading: %d unread, want 1 (a new entry)", n)
	}
	// An old unread entry (past the window) does not swallow new requests.
	c.Notification.Update().Where(notification.RecipientID(dana)).SetCount(1).ExecX(ctx)
	old := c.Notification.Query().Where(notification.RecipientID(dana)).OnlyX(ctx)
	c.Notification.DeleteOne(old).ExecX(ctx)
	c.Notification.Create().SetRecipientID(dana).SetType(notification.TypeAPPROVAL_REQUIRED).SetTitle("old").
		SetCreatedAt(time.Now().Add(-notify.DigestWindow - time.Minute)).ExecX(ctx)
	if err := notify.Send(ctx, c, []uuid.UUID{dana}, approvalRequest(7)); err != nil {
		t.Fatal(err)
	}
	if n, _ := notify.UnreadCount(ctx, c, dana); n != 2 {
		t.Errorf("dana: %d unread, want 2", n)
	}
	// Other kinds are never folded.
	for range 3 {
		if err := notify.Send(ctx, c, []uuid.UUID{dana}, notify.Message{Type: notification.TypeVM_CREATED, Title: "created"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Notification.Query().Where(notification.RecipientID(dana), notification.TypeEQ(notification.TypeVM_CREATED)).CountX(ctx); n != 3 {
		t.Errorf("%d VM_CREATED entries, want 3", n)
	}
}

// Requests submitted at the same moment, each in its own transaction, count each other.
func TestConcurrentApprovalRequestsCountEachOther(t *testing.T) {
	c := inboxClient(t)
	ctx := t.Context()
	bob := uuid.New()
	if err := notify.Send(ctx, c, []uuid.UUID{bob}, approvalRequest(0)); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- inTx(ctx, c, func(tx *ent.Client) error { return notify.Send(ctx, tx, []uuid.UUID{bob}, approvalRequest(i)) })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := c.Notification.Query().Where(notification.RecipientID(bob)).OnlyX(ctx)
	if d.Count != n+1 {
		t.Errorf("digest counts %d, want %d", d.Count, n+1)
	}
}

func inTx(ctx context.Context, c *ent.Client, f func(*ent.Client) error) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
