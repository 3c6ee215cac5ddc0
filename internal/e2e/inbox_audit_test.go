package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/audit"
)

// viaDevIssuer signs the browser in as user (the inbox test's own copy, so it does not
// depend on other areas' helpers).
func viaDevIssuer(t *testing.T, ctx context.Context, env *apptest.Env, user string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="pick-`+user+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').getAttribute('`+name+`') || ''`))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

func TestInboxBellAndAuditLogInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	ent := env.App.Store.Ent
	aliceID := ent.User.Query().Where(user.Username("alice")).OnlyX(t.Context()).ID
	ticket := uuid.New()
	for i, n := range []struct {
		typ         notification.Type
		title, body string
		read        bool
	}{
		{notification.TypeREQUEST_APPROVED, "Your VM request for shop/web was approved", "Bob approved it on cluster sim-test-1. Provisioning starts now.", false},
		{notification.TypeREQUEST_REJECTED, "Your VM request for shop/db was rejected", "Reason: use the existing database service.", false},
		{notification.TypeVM_CREATED, "shop-web-01 is running", "The VM was created in namespace shop-test.", true},
	} {
		b := ent.Notification.Create().SetRecipientID(aliceID).SetType(n.typ).SetTitle(n.title).SetBody(n.body).
			SetLink("/requests/" + ticket.String()).SetTicketID(ticket).SetCreatedAt(time.Now().Add(-time.Duration(i+1) * 47 * time.Minute))
		if n.read {
			b.SetReadAt(time.Now())
		}
		b.ExecX(t.Context())
	}

	viaDevIssuer(t, ctx, env, "alice")
	if got := attr(t, ctx, "#notification-bell", "aria-label"); got != "2 unread notifications" {
		t.Fatalf("bell label %q", got)
	}
	screenshot(t, ctx, "inbox-01-dashboard-bell")

	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#notification-bell`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="inbox"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "inbox-02-list")
	if n := count(t, ctx, `li.inbox-item.unread`); n != 2 {
		t.Fatalf("unread rows %d", n)
	}

	// Mark one read through htmx: the row, the toolbar and the bell change in place.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`li.inbox-item.unread [data-testid="mark-read"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#notification-bell[data-unread="1"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The row and the tab are swapped in the same response as the bell, but land a
	// moment apart: wait for them rather than racing the swap.
	settle(t, ctx)
	waitCount(t, ctx, `li.inbox-item.unread`, 1)
	if tab := text(t, ctx, `[data-testid="tab-unread"]`); !strings.Contains(tab, "(1)") {
		t.Fatalf("after mark read: tab %q", tab)
	}
	if loc := location(t, ctx); loc != env.URL+"/notifications" {
		t.Fatalf("htmx mark read navigated to %s", loc)
	}
	screenshot(t, ctx, "inbox-03-one-read")

	// A new notification arrives; the bell's poll (fired here instead of waiting 30 s) shows it.
	ent.Notification.Create().SetRecipientID(aliceID).SetType(notification.TypeAPPROVAL_OVERDUE).
		SetTitle("Ticket waiting 8 days").ExecX(t.Context())
	err = chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`htmx.ajax('GET', document.querySelector('#notification-bell').getAttribute('data-hx-get'),
				{source: '#notification-bell', target: '#notification-bell', swap: 'outerHTML'}); true`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(`#notification-bell[data-unread="2"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="read-all"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#notification-bell[data-unread="0"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The live stream may update the bell before the answer to the click arrives.
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = text(t, ctx, "#flash-area"); strings.Contains(got, "Marked 2 notifications as read") {
			break
		}
	}
	if !strings.Contains(got, "Marked 2 notifications as read") {
		t.Fatalf("flash %q", got)
	}
	waitCount(t, ctx, `li.inbox-item.unread`, 0)
	waitCount(t, ctx, `.bell-count`, 0)
	screenshot(t, ctx, "inbox-04-all-read")

	// The audit log, as the platform admin.
	actx := audit.WithRequest(t.Context(), audit.Request{IP: "198.51.100.20", RequestID: "8fK2qL0x1ZpA"})
	for _, e := range []audit.Entry{
		{Action: "system.create", ActorName: "dana", ResourceType: "system", ResourceID: "6c1f", ResourceName: "shop",
			Details: map[string]any{"description_length": 212}},
		{Action: "vm.request", ActorName: "alice", ResourceType: "ticket", ResourceID: ticket.String(), ResourceName: "shop-web",
			ParentType: "service", ParentID: "web", Environment: "test",
			Details: map[string]any{"size": "small", "disk_gb": 100, "reason": "Load test for the spring sale; needs to run for two weeks", "token": "s3cr3t"}},
		{Action: "approval.approve", ActorName: "bob", ResourceType: "ticket", ResourceID: ticket.String(), ResourceName: "shop-web",
			Environment: "prod", Details: map[string]any{"cluster": "sim-prod-1", "storage_class": "fast"}},
	} {
		if err := audit.Write(actx, ent, e); err != nil {
			t.Fatal(err)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`details.user-menu summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	viaDevIssuer(t, ctx, env, "carol")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-nav="audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-rows"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "audit-01-all")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#f-action`), "approval.*"),
		chromedp.Click(chromedp.CSS(`[data-testid="audit-apply"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-row"][data-action="approval.approve"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The unfiltered page already shows an approval row: wait for the filtered one.
	waitCount(t, ctx, `[data-testid="audit-row"]`, 1)
	screenshot(t, ctx, "audit-02-filtered")
	// Resource history through the resource link of the row.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="audit-row"] a[title="History of this resource"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-row"][data-action="vm.request"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, `[data-testid="audit-row"]`); n != 2 {
		t.Fatalf("resource history shows %d rows", n)
	}
	if got := text(t, ctx, `[data-testid="audit-rows"]`); !strings.Contains(got, "[REDACTED]") || strings.Contains(got, "s3cr3t") {
		t.Fatalf("details not redacted: %q", got)
	}
	screenshot(t, ctx, "audit-03-resource-history")
}
