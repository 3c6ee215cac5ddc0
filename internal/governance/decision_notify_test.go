package governance

import (
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/systemmember"
)

// notes counts the notifications of type nt each user received.
func (f *fixture) notes(nt notification.Type, users ...uuid.UUID) []int {
	out := make([]int, len(users))
	for i, u := range users {
		out[i] = f.store.Ent.Notification.Query().Where(notification.RecipientID(u), notification.TypeEQ(nt)).CountX(f.ctx)
	}
	return out
}

// Decisions reach the System's owners and admins as well as the requester, each once;
// the decider and plain members hear nothing.
func TestDecisionsNotifySystemOwners(t *testing.T) {
	f := newFixture(t)
	c := f.store.Ent
	sys := c.System.Query().OnlyX(f.ctx)
	olga := f.user("olga", "Viewer", []string{"test"})
	odin := f.user("odin", "Viewer", []string{"test"})
	mia := f.user("mia", "Viewer", []string{"test"})
	gone := f.user("gone", "Viewer", []string{"test"})
	c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(olga.ID).SetRole(systemmember.RoleOwner).ExecX(f.ctx)
	c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(odin.ID).SetRole(systemmember.RoleAdmin).ExecX(f.ctx)
	c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(mia.ID).SetRole(systemmember.RoleMember).ExecX(f.ctx)
	c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(gone.ID).SetRole(systemmember.RoleOwner).ExecX(f.ctx)
	c.User.UpdateOne(gone).SetDisabled(true).ExecX(f.ctx)
	// The approver is an owner too: they decided, so they are not told.
	c.SystemMember.Create().SetSystemID(sys.ID).SetUserID(f.bob.ID).SetRole(systemmember.RoleOwner).ExecX(f.ctx)

	tk := f.submit()
	if _, err := f.gov.Approve(f.ctx, f.who(f.bob), ApproveInput{TicketID: tk.ID, ClusterID: f.testCluster.ID}); err != nil {
		t.Fatal(err)
	}
	got := f.notes(notification.TypeREQUEST_APPROVED, f.alice.ID, olga.ID, odin.ID, mia.ID, gone.ID, f.bob.ID)
	if want := []int{1, 1, 1, 0, 0, 0}; !equalInts(got, want) {
		t.Fatalf("approval notifications alice, olga, odin, mia, gone, bob = %v, want %v", got, want)
	}
	owner := c.Notification.Query().Where(notification.RecipientID(olga.ID)).OnlyX(f.ctx)
	if owner.TicketID == nil || *owner.TicketID != tk.ID || owner.Body == "" {
		t.Errorf("owner's notification: %+v", owner)
	}

	// The requester is an owner as well: one notification, worded for the requester.
	c.SystemMember.Update().Where(systemmember.UserID(f.alice.ID)).SetRole(systemmember.RoleOwner).ExecX(f.ctx)
	tk2, err := f.gov.Submit(f.ctx, f.who(f.alice), f.request(f.dev, f.size, 50))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gov.Reject(f.ctx, f.who(f.carl), tk2.ID, "wrong size"); err != nil {
		t.Fatal(err)
	}
	got = f.notes(notification.TypeREQUEST_REJECTED, f.alice.ID, olga.ID, odin.ID, mia.ID, f.bob.ID, f.carl.ID)
	if want := []int{1, 1, 1, 0, 1, 0}; !equalInts(got, want) {
		t.Fatalf("rejection notifications alice, olga, odin, mia, bob (owner), carl (decider) = %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
