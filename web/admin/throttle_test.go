package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth"
)

// The admin's failed sign-ins block it; a platform admin sees the account and the address
// on the Sign-in throttle page, clears the account (audited, with a flash), and the admin
// signs in at once. Nobody else may see or clear the page.
func TestSignInThrottlePageClearsAKey(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	guesser := env.Client(t)
	for i := 1; i <= 5; i++ {
		status, _ := env.LoginLocal(t, guesser, "admin", "not-the-password")
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 5]; status != want {
			t.Fatalf("wrong password %d: %d, want %d", i, status, want)
		}
	}
	if status, _ := env.LoginLocal(t, env.Client(t), "admin", "admin"); status != http.StatusTooManyRequests {
		t.Fatalf("right password while blocked: %d", status)
	}

	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin")
	if status != http.StatusOK || !strings.Contains(body, `data-testid="card-throttle"`) || !strings.Contains(body, `href="/admin/sign-in-throttle"`) {
		t.Fatalf("admin home: %d, no sign-in throttle card", status)
	}
	status, body = carol.get(t, "/admin/sign-in-throttle")
	if status != http.StatusOK {
		t.Fatalf("throttle page: %d", status)
	}
	account, address := rowOf(body, "user:admin"), rowOf(body, "ip:127.0.0.1")
	if !strings.Contains(account, `data-testid="blocked"`) || !strings.Contains(account, ">5<") || !strings.Contains(account, "<code class=\"throttle-subject\">admin</code>") {
		t.Fatalf("account row: %s", account)
	}
	if address == "" || strings.Contains(address, `data-testid="blocked"`) || !strings.Contains(address, ">5<") {
		t.Fatalf("address row (5 failures, under its limit): %s", address)
	}
	if !strings.Contains(body, "5 failed sign-ins are free") || !strings.Contains(body, "up to 15 minutes") {
		t.Error("the policy is not explained on the page")
	}

	alice := signIn(t, env, "demo-alice")
	if status, _ := alice.get(t, "/admin/sign-in-throttle"); status != http.StatusForbidden {
		t.Errorf("alice reads the throttle page: %d", status)
	}
	if status, _, _ := alice.post(t, "/admin/sign-in-throttle/clear", url.Values{"key": {"user:admin"}}); status != http.StatusForbidden {
		t.Errorf("alice clears a key: %d", status)
	}

	if loc := carol.mustRedirect(t, "/admin/sign-in-throttle/clear", url.Values{"key": {"user:admin"}}); loc != "/admin/sign-in-throttle" {
		t.Fatalf("clear redirects to %s", loc)
	}
	_, body = carol.get(t, "/admin/sign-in-throttle")
	if !strings.Contains(body, "Cleared the failed sign-ins of account admin") || rowOf(body, "user:admin") != "" || rowOf(body, "ip:127.0.0.1") == "" {
		t.Fatalf("after clearing: flash or rows wrong:\n%s", errorsIn(body))
	}
	rows := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action(auth.ActionThrottleClear)).AllX(ctx)
	if len(rows) != 1 || rows[0].ActorName != "carol" || rows[0].ResourceID != "user:admin" || rows[0].Details["was_blocked"] != true {
		t.Fatalf("clear audit: %+v", rows)
	}
	if status, next := env.LoginLocal(t, env.Client(t), "admin", "admin"); status != http.StatusSeeOther || next != "/account/password" {
		t.Fatalf("admin after the clear: %d %s", status, next)
	}

	// Clearing what is gone (another admin was quicker) is a message, not an error page.
	carol.mustRedirect(t, "/admin/sign-in-throttle/clear", url.Values{"key": {"user:admin"}})
	if _, body = carol.get(t, "/admin/sign-in-throttle"); !strings.Contains(body, "Account admin has no failed sign-ins to clear") {
		t.Errorf("clearing twice: %s", errorsIn(body))
	}
}
