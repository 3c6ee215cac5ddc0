package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/identityprovider"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth"
)

// startTestOP builds and starts tools/testop, an independent OpenID provider made of
// github.com/oauth2-proxy/mockoidc in its own module (its dependencies stay out of
// Shepherd's go.mod). Every sign-in through it is erin, member of groups.
func startTestOP(t *testing.T, secret, groups string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "tools", "testop")
	bin := filepath.Join(t.TempDir(), "testop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tools/testop: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-client-id", "shepherd-acme", "-client-secret", secret, "-sub", "erin-0001",
		"-username", "erin", "-email", "erin@acme.example", "-groups", groups)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ISSUER "); ok {
				issuer <- rest
			}
		}
	}()
	select {
	case u := <-issuer:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("tools/testop did not start")
	}
	return ""
}

// TestIdentityProviderAddedInThePortal: an admin adds an independent OpenID provider on
// the Identity providers page (discovery test first), a user signs in through it with
// only the default access, the admin maps the group the sign-in delivered to Approver in
// the grid, and at the next sign-in the user sees and decides an approval; disabled by
// the admin, the user's open session ends and signing in again is refused.
func TestIdentityProviderAddedInThePortal(t *testing.T) {
	env := apptest.Start(t)
	issuer := startTestOP(t, "acme-secret-value", "acme-approvers,acme-staff")
	ctx := browserFor(t, 5*time.Minute)
	db := env.App.Store.Ent
	bg := context.Background()

	// dana requests a VM: the approval erin will decide.
	signIn(t, ctx, env, "dana")
	createSystemAndService(t, ctx, env)
	reqURL := requestVM(t, ctx, env, "alpha / api", "small", "Build agents for the alpha team", "")
	ticketID := reqURL[strings.LastIndex(reqURL, "/")+1:]
	signOut(t, ctx)

	// carol adds the provider; Test discovery shows what it found.
	signIn(t, ctx, env, "carol")
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/admin/identity-providers"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="providers"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="add-provider"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="provider-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-key`), "acme"),
		chromedp.SendKeys(chromedp.CSS(`#f-label`), "Acme SSO"),
		chromedp.SendKeys(chromedp.CSS(`#f-issuer`), issuer),
		chromedp.SendKeys(chromedp.CSS(`#f-client_id`), "shepherd-acme"),
		chromedp.SendKeys(chromedp.CSS(`#f-client_secret`), "acme-secret-value"),
		// This provider, like Keycloak with a groups client scope, sends groups only when asked.
		chromedp.SetValue(chromedp.CSS(`#f-scopes`), "profile email groups"),
		chromedp.Click(chromedp.CSS(`[data-testid="test-discovery"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="discovery-ok"]`)),
	)
	if err != nil {
		t.Fatalf("add provider, test discovery: %v", err)
	}
	screenshot(t, ctx, "idp-01-discovery")
	if found := text(t, ctx, `[data-testid="discovery-ok"]`); !strings.Contains(found, issuer) || !strings.Contains(found, "RSA RS256") {
		t.Fatalf("discovery panel: %q", found)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="save-provider"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="provider-facts"]`)),
	)
	if err != nil {
		t.Fatalf("save provider: %v", err)
	}
	row := db.IdentityProvider.Query().Where(identityprovider.Key("acme")).OnlyX(bg)
	if row.ClientSecretSealed == "" || strings.Contains(row.ClientSecretSealed, "acme-secret-value") {
		t.Fatalf("client secret stored as %q", row.ClientSecretSealed)
	}
	for _, a := range db.AuditLog.Query().Where(auditlog.Action("idp.configure")).AllX(bg) {
		if strings.Contains(string(mustJSON(t, a.Details)), "acme-secret-value") {
			t.Fatal("the client secret is in the audit log")
		}
	}
	signOut(t, ctx)

	// erin signs in through Acme SSO: no group is mapped, so only the default access.
	signInAcme := func(shot string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(env.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="sso-login-acme"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="sso-login-acme"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="capabilities"]`)),
		)
		if err != nil {
			t.Fatalf("sign in through Acme SSO: %v", err)
		}
		screenshot(t, ctx, shot)
	}
	signInAcme("idp-02-erin-default")
	if caps := text(t, ctx, `[data-testid="capabilities"]`); strings.Contains(caps, "Approve requests") {
		t.Fatalf("erin may approve before any mapping: %q", caps)
	}
	signOut(t, ctx)

	// carol maps the group the sign-in delivered (offered under "groups seen recently").
	signIn(t, ctx, env, "carol")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/admin/identity-providers/acme"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="seen-groups"]`)),
	)
	if err != nil {
		t.Fatalf("provider page: %v", err)
	}
	if seen := text(t, ctx, `[data-testid="seen-groups"]`); !strings.Contains(seen, "acme-approvers") {
		t.Fatalf("groups seen: %q", seen)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#f-group`), "acme-approvers"),
		selectByText(`#f-role`, "Approver"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-mapping"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mappings"] tr[data-row="acme-approvers"]`)),
	)
	if err != nil {
		t.Fatalf("map the group: %v", err)
	}
	screenshot(t, ctx, "idp-03-mapping")
	signOut(t, ctx)

	// At her next sign-in erin is an Approver and decides dana's request.
	signInAcme("idp-04-erin-approver")
	if caps := text(t, ctx, `[data-testid="capabilities"]`); !strings.Contains(caps, "Approve requests") {
		t.Fatalf("erin's capabilities after the mapping: %q", caps)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`[data-ticket="`+ticketID+`"]`)),
		chromedp.Navigate(env.URL+"/approvals/"+ticketID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approve"]`)),
		selectByText(`#f-cluster_id`, "sim-test-a"),
	)
	if err != nil {
		t.Fatalf("erin's approval page: %v", err)
	}
	settle(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-name"]`)),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	screenshot(t, ctx, "idp-05-approved")
	if n := db.AuditLog.Query().Where(auditlog.Action("approval.approve"), auditlog.ActorName("erin")).CountX(bg); n != 1 {
		t.Fatalf("approvals audited as erin: %d", n)
	}
	if n := db.AuditLog.Query().Where(auditlog.Action("idp.mapping_create")).CountX(bg); n != 1 {
		t.Fatalf("mapping creations audited: %d", n)
	}

	// carol, in her own browser, disables erin: erin's open session ends at her next
	// click, and signing in through Acme SSO again is refused with the reason.
	admin := browserFor(t, 3*time.Minute)
	signIn(t, admin, env, "carol")
	erin := db.User.Query().Where(user.Username("erin")).OnlyX(bg)
	err = chromedp.Do(admin,
		chromedp.Navigate(env.URL+"/admin/users/"+erin.ID.String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="disable-user"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="disable-user"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="enable-user"]`)),
	)
	if err != nil {
		t.Fatalf("disable erin: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`#flash-area .flash`)),
	)
	if err != nil {
		t.Fatalf("erin's next click: %v", err)
	}
	if flash, loc := text(t, ctx, `#flash-area .flash`), location(t, ctx); !strings.Contains(flash, auth.DisabledMessage) || !strings.Contains(loc, "/login") {
		t.Fatalf("erin after being disabled: at %s, %q", loc, flash)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="sso-login-acme"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-error"]`)),
	)
	if err != nil {
		t.Fatalf("erin signs in again: %v", err)
	}
	screenshot(t, ctx, "idp-06-erin-disabled")
	if msg := text(t, ctx, `[data-testid="login-error"]`); !strings.Contains(msg, auth.DisabledMessage) {
		t.Fatalf("erin's sign-in while disabled: %q", msg)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Identity providers pages on a 390×844 screen: nothing scrolls sideways, the rows'
// names and the grid's first row are in reach.
func TestIdentityProvidersOnAPhone(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	signIn(t, ctx, env, "carol")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, path, sel string }{
		{"idp-list", "/admin/identity-providers", `table[data-testid="providers"] tr[data-row="default"] td:first-child a`},
		{"idp-default", "/admin/identity-providers/default", `table[data-testid="mappings"] tr[data-row] input[name="group"]`},
		{"idp-new", "/admin/identity-providers/new", `[data-testid="test-discovery"]`},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(env.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel))); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		screenshot(t, ctx, "phone-"+p.name)
		fitsPhoneScreen(t, ctx, p.name)
		if msg := inView(t, ctx, p.sel); msg != "" {
			t.Errorf("%s: %s %s", p.name, p.sel, msg)
		}
	}
}
