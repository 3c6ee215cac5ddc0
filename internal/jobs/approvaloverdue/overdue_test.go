package approvaloverdue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/jobs/approvaloverdue"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// The digest goes to each enabled platform admin once a day, however often the job
// runs, names the overdue requests only, and comes again the next day while they wait.
func TestOverdueDigestOncePerAdminPerDay(t *testing.T) {
	ctx := t.Context()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	c := store.Ent
	org := testorg.New(t, ctx, c, "sim-a")
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gov := &governance.Service{Store: store, Jobs: ins}
	alice, err := testorg.Who(ctx, c, org.Alice)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(disk int, age time.Duration) {
		t.Helper()
		// A size of its own, so it is no duplicate of the others.
		size := c.InstanceSize.Create().SetName(fmt.Sprintf("size-%d", disk)).SetCPUCores(1).SetMemoryMib(1024).SaveX(ctx)
		tk, err := gov.Submit(ctx, alice, governance.RequestInput{ServiceID: org.Service.ID, NamespaceID: org.Namespace.ID,
			TemplateID: org.Template.ID, SizeID: size.ID, DiskGB: disk, Reason: "overdue test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SQL.ExecContext(ctx, `UPDATE approval_tickets SET created_at = now() - $1::interval WHERE id = $2`,
			age.String(), tk.ID); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.User.Query().Where(user.Username(seed.AdminUsername)).OnlyX(ctx)
	// A second admin, and a disabled one who hears nothing.
	pa := c.Role.Query().Where(role.Name("PlatformAdmin")).OnlyX(ctx)
	carol := c.User.Create().SetUsername("carol").SaveX(ctx)
	c.RoleBinding.Create().SetUserID(carol.ID).SetRoleID(pa.ID).ExecX(ctx)
	gone := c.User.Create().SetUsername("gone").SetDisabled(true).SaveX(ctx)
	c.RoleBinding.Create().SetUserID(gone.ID).SetRoleID(pa.ID).ExecX(ctx)

	now := time.Now()
	n := &approvaloverdue.Notifier{Store: store, Now: func() time.Time { return now }}

	submit(100, 2*time.Hour) // recent: not overdue
	if sent, err := n.Run(ctx); err != nil || sent != 0 {
		t.Fatalf("nothing overdue: sent %d, %v", sent, err)
	}
	submit(101, 8*24*time.Hour)
	submit(102, 10*24*time.Hour)
	for i := 0; i < 3; i++ {
		sent, err := n.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 2, false: 0}[i == 0]; sent != want {
			t.Fatalf("run %d sent %d, want %d", i, sent, want)
		}
	}
	digests := c.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_OVERDUE)).AllX(ctx)
	if len(digests) != 2 {
		t.Fatalf("%d digests, want 2 (one per enabled admin)", len(digests))
	}
	for _, d := range digests {
		if d.RecipientID != admin.ID && d.RecipientID != carol.ID {
			t.Errorf("digest sent to %s", d.RecipientID)
		}
		if d.Title != "2 requests have waited more than 7 days for a decision" || d.Link != "/approvals" {
			t.Errorf("digest: %q → %s", d.Title, d.Link)
		}
	}
	// The next day, still waiting: one more each.
	now = now.Add(24 * time.Hour)
	if sent, err := n.Run(ctx); err != nil || sent != 2 {
		t.Fatalf("next day: sent %d, %v", sent, err)
	}
}
