package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/devoidc"
)

// The requests the outside probe turned into 500s now answer 400 with a message, and
// write nothing (not even the failed-login audit row of a NUL username).
func TestUnstorableTextIsRefusedAtTheEdge(t *testing.T) {
	env := apptest.Start(t)
	carol := env.Client(t)
	env.LoginOIDC(t, carol, "demo-carol")
	for _, path := range []string{"/systems?q=a%00b", "/vms?namespace=%ff", "/approvals?requester=%ff",
		"/admin/audit?actor=%ff", "/vms/%ff", "/requests?status=%c0%af", "/no-such-page%00"} {
		status, body, _ := env.Get(t, carol, path)
		if status != http.StatusBadRequest || !strings.Contains(body, "not valid UTF-8") {
			t.Errorf("GET %s: %d, want 400 with the reason in the page", path, status)
		}
	}

	anon := env.Client(t)
	_, page, _ := env.Get(t, anon, "/login")
	ctx := context.Background()
	audits := env.App.Store.Ent.AuditLog.Query().CountX(ctx)
	status, body, _ := env.PostForm(t, anon, "/login", url.Values{"csrf_token": {apptest.CSRF(t, page)},
		"username": {"ad\x00min"}, "password": {"whatever"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "username") {
		t.Errorf("POST /login with a NUL username: %d\n%.600s", status, body)
	}
	if n := env.App.Store.Ent.AuditLog.Query().CountX(ctx); n != audits {
		t.Errorf("%d audit rows written for a refused request", n-audits)
	}

	// Headers that reach logs and audit rows cannot carry such bytes in either.
	_, page, _ = env.Get(t, anon, "/login")
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(url.Values{"csrf_token": {apptest.CSRF(t, page)},
		"username": {"nobody"}, "password": {"wrong"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "probe \xff\xfe")
	req.Header.Set("X-Request-Id", "id-\xff")
	resp, err := anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Request-Id") == "id-\xff" {
		t.Errorf("sign-in with a crafted user agent: %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	row, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("user.login_failed"), auditlog.ActorName("nobody")).Only(ctx)
	if err != nil || !strings.HasPrefix(row.UserAgent, "probe ") {
		t.Errorf("failed sign-in audit row: %v %v", row, err)
	}

	// htmx requests get the message as a fragment in the flash area.
	req, _ = http.NewRequest(http.MethodGet, env.URL+"/vms/rows?q=%ff", nil)
	req.Header.Set("HX-Request", "true")
	resp, err = carol.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("HX-Retarget") != "#flash-area" || strings.Contains(string(b), "<html") {
		t.Errorf("htmx: %d retarget %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
	}
	if strings.Contains(env.Logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", grepLines(env.Logs.String(), "level=ERROR"))
	}
}

// Visitors without a session — scanners, 404s, the sign-in page — write nothing, and
// each answer sets the session cookie at most once. Signing in still works, with the
// form's CSRF token carried in the visitor's signed cookie.
func TestAnonymousTrafficCreatesNoSessions(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	sessions := func() int { return env.App.Store.Ent.Session.Query().CountX(ctx) }
	start := sessions()
	paths := []string{"/", "/login", "/vms", "/wp-login.php", "/admin/audit", "/login?next=/vms", "/static/css/app.css",
		"/health/live", "/no/such/page", "/approvals/1"}
	for i := range 1000 {
		req, _ := http.NewRequest(http.MethodGet, env.URL+paths[i%len(paths)], nil)
		resp, err := http.DefaultTransport.RoundTrip(req) // no cookie jar, no redirects: a scanner
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n := len(resp.Header.Values("Set-Cookie")); n > 1 {
			t.Fatalf("%s: %d Set-Cookie headers", req.URL.Path, n)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: %d", req.URL.Path, resp.StatusCode)
		}
	}
	if n := sessions() - start; n != 0 {
		t.Errorf("1000 anonymous requests created %d session rows, want 0", n)
	}

	// A browser keeps the visitor cookie; a few pages later it signs in.
	c := env.Client(t)
	for _, p := range []string{"/", "/login", "/nothing-here"} {
		env.Get(t, c, p)
	}
	if n := sessions() - start; n != 0 {
		t.Errorf("a browsing visitor created %d session rows", n)
	}
	status, _, resp := env.Get(t, c, "/login")
	if status != http.StatusOK || len(resp.Header.Values("Set-Cookie")) > 1 {
		t.Errorf("GET /login: %d with %d Set-Cookie", status, len(resp.Header.Values("Set-Cookie")))
	}
	if status, _ := env.LoginLocal(t, c, "admin", "admin"); status != http.StatusSeeOther {
		t.Fatalf("sign-in after browsing: %d", status)
	}
	if n := sessions() - start; n != 1 {
		t.Errorf("signing in created %d session rows, want 1", n)
	}
	// A form posted without the visitor's cookie is refused (the token alone is not enough).
	other := env.Client(t)
	_, page, _ := env.Get(t, c, "/account/password")
	status, _, _ = env.PostForm(t, other, "/login", url.Values{"csrf_token": {apptest.CSRF(t, page)}, "username": {"admin"}, "password": {"admin"}})
	if status != http.StatusForbidden {
		t.Errorf("sign-in with another browser's token: %d, want 403", status)
	}
}

// A client that hangs up mid-request is recorded as 499 at INFO, never as an error,
// and a readiness probe that hangs up does not report the database as down.
func TestClientHangUpIsNotAServerError(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-carol")
	ctx := context.Background()

	// Hold the sessions table: the next page waits in the database, and the client gives up.
	tx, err := env.App.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	impatient := *c
	impatient.Timeout = 300 * time.Millisecond
	if _, err := impatient.Get(env.URL + "/vms"); err == nil {
		t.Fatal("the page answered although the sessions table was locked")
	}

	// Take every pooled connection: the readiness check waits for one, and the prober leaves.
	var held []interface{ Release() }
	for range env.App.Pool.Config().MaxConns {
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		conn, err := env.App.Pool.Acquire(actx)
		cancel()
		if err != nil {
			break // the rest are River's own (its listener keeps one)
		}
		held = append(held, conn)
	}
	probe := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := probe.Get(env.URL + "/health/ready"); err == nil {
		t.Fatal("readiness answered without a database connection")
	}
	time.Sleep(500 * time.Millisecond) // let both handlers notice and log
	for _, h := range held {
		h.Release()
	}
	_ = tx.Rollback(ctx)

	waitFor(t, func() bool { return strings.Count(env.Logs.String(), `msg="client disconnected"`) >= 2 }, "two client-disconnect lines")
	logs := env.Logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `msg="client disconnected"`) && !strings.Contains(line, "level=INFO") {
			t.Errorf("disconnect not at INFO: %s", line)
		}
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "not ready") || strings.Contains(line, "database unreachable") {
			t.Errorf("hang-up reported as a failure: %s", line)
		}
	}
	resp, err := http.Get("http://" + env.App.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`route="/vms",status="499"`, `route="/health/ready",status="499"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, bad := range []string{`route="/vms",status="500"`, `route="/health/ready",status="503"`} {
		if strings.Contains(string(b), bad) {
			t.Errorf("metrics count %s", bad)
		}
	}
	// And the database is fine.
	if status, body, _ := env.Get(t, env.Client(t), "/health/ready"); status != http.StatusOK {
		t.Errorf("ready after the hang-ups: %d %s", status, body)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// An IdP's claims are stored: a NUL in a name or group, an email longer than the column,
// a name longer than its column sign the person in with what fits; a subject that cannot
// be stored as it is refuses the sign-in with a message, not a 500.
func TestOIDCClaimsThatDoNotFit(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	env.App.DevIssuer.Tamper(func(tk *devoidc.Token) {
		tk.Claims["email"] = strings.Repeat("a", 400) + "@example.com"
		tk.Claims["name"] = "Al\x00ice " + strings.Repeat("é", 300)
		tk.Claims["groups"] = []any{"shop-\x00members", strings.Repeat("g", 5000)}
	})
	if next := env.LoginOIDC(t, c, "demo-alice"); next != "/" {
		t.Fatalf("sign-in with oversized claims landed on %q", next)
	}
	u := env.App.Store.Ent.User.Query().Where(user.ExternalID("demo-alice")).OnlyX(context.Background())
	// An email that does not fit is not stored (a cut address is a wrong one): like a
	// claim the provider did not send, it leaves the known address as it is.
	if u.Email != "alice@example.com" || !strings.HasPrefix(u.DisplayName, "Alice é") || len(u.DisplayName) > 255 || !utf8.ValidString(u.DisplayName) {
		t.Errorf("stored email %q, name %q (%d bytes)", u.Email, u.DisplayName, len(u.DisplayName))
	}

	c2 := env.Client(t)
	env.App.DevIssuer.Tamper(func(tk *devoidc.Token) { tk.Claims["sub"] = strings.Repeat("s", 300) })
	status, body, _ := env.Get(t, c2, env.OIDCCallback(t, c2, "demo-bob"))
	if status != http.StatusUnauthorized || !strings.Contains(body, `data-testid="login-error"`) {
		t.Errorf("oversized subject: %d", status)
	}
	if strings.Contains(env.Logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", grepLines(env.Logs.String(), "level=ERROR"))
	}
}
