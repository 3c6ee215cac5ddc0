package web_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/loginthrottle"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth"
)

var loginErrorText = regexp.MustCompile(`data-testid="login-error"[^>]*>([^<]*)<`)

func loginErrorIn(body string) string {
	if m := loginErrorText.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// Failed OIDC callbacks count against the client address: the 20th blocks it, and while
// blocked even a genuine callback is refused (429, the wait on the sign-in page) before
// its code is redeemed. Once the block is over the same sign-in goes through.
func TestOIDCCallbackIsThrottled(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.Client(t)
	for i := 1; i <= 19; i++ {
		if status, _, _ := env.Get(t, c, "/api/v1/auth/oidc/callback?state=forged&code=guess"); status != http.StatusUnauthorized {
			t.Fatalf("forged callback %d: %d", i, status)
		}
	}
	status, body, resp := env.Get(t, c, "/api/v1/auth/oidc/callback?state=forged&code=guess")
	if status != http.StatusTooManyRequests || loginErrorIn(body) != "Too many failed sign-ins. Try again in 2 seconds." ||
		resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("20th forged callback: %d %q Retry-After %q", status, loginErrorIn(body), resp.Header.Get("Retry-After"))
	}

	// A later, longer block (as after further failures), so the genuine sign-in below
	// meets it however slow this machine is.
	store := env.App.Store.Ent
	store.LoginThrottle.Update().Where(loginthrottle.ID("ip:127.0.0.1")).
		SetBlockedUntil(time.Now().Add(10*time.Minute - time.Second)).ExecX(ctx)
	genuine := env.Client(t)
	status, body, resp = env.Get(t, genuine, env.OIDCCallback(t, genuine, "demo-alice"))
	if status != http.StatusTooManyRequests || loginErrorIn(body) != "Too many failed sign-ins. Try again in 10 minutes." {
		t.Fatalf("genuine callback while blocked: %d %q", status, loginErrorIn(body))
	}
	if n := store.AuditLog.Query().Where(auditlog.Action("user.login")).CountX(ctx); n != 0 {
		t.Fatal("signed in while blocked")
	}
	if n := store.AuditLog.Query().Where(auditlog.Action(auth.ActionLoginThrottled), auditlog.ResourceID("ip:127.0.0.1")).CountX(ctx); n != 2 {
		t.Errorf("%d throttle audit rows, want 2 (blocked, then the first refusal)", n)
	}

	store.LoginThrottle.Update().Where(loginthrottle.ID("ip:127.0.0.1")).SetBlockedUntil(time.Now().Add(-time.Second)).ExecX(ctx)
	if next := env.LoginOIDC(t, env.Client(t), "demo-alice"); next != "/" {
		t.Fatalf("after the block: %s", next)
	}
	// A successful OIDC sign-in does not forgive the address (it counts guesses at everyone).
	if r := store.LoginThrottle.GetX(ctx, "ip:127.0.0.1"); r.Failures != 20 {
		t.Errorf("address failures after a success: %d", r.Failures)
	}
}
