package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// Hand-edited page numbers and sizes never fail a list: out-of-range numbers are clamped,
// garbage is ignored, and a page past the end shows the last page.
func TestListsSurviveAnyPaging(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	svc := c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx)
	ns := c.Namespace.Query().FirstX(ctx)
	size := c.InstanceSize.Query().FirstX(ctx)
	vmID := newVM(t, env, svc.ID, ns.ID, size.ID)
	carol := env.Client(t)
	env.LoginOIDC(t, carol, "demo-carol")
	// Some history on each resource, so the history tabs have rows to page through.
	for _, r := range []struct{ typ, id string }{{"vm", vmID}, {"system", shop.ID.String()}, {"service", svc.ID.String()}} {
		for i := range 3 {
			c.AuditLog.Create().SetAction(r.typ + ".update").SetResourceType(r.typ).SetResourceID(r.id).
				SetDetails(map[string]any{"n": i}).ExecX(ctx)
		}
	}

	lists := []string{"/vms", "/vms/rows", "/systems", "/requests", "/approvals", "/notifications", "/admin/audit",
		"/admin/namespaces", "/vms/" + vmID + "?tab=history", "/systems/" + shop.ID.String(),
		"/systems/" + shop.ID.String() + "?tab=history", "/services/" + svc.ID.String(),
		"/services/" + svc.ID.String() + "?tab=history"}
	queries := []string{"page=9223372036854775807", "page=9223372036854775808", "page=-5", "page=-9223372036854775808",
		"per_page=100000000", "per_page=9223372036854775807&page=9223372036854775807", "page=100001&per_page=100",
		"page=1e9&per_page=1e9", "page=0x10&per_page=0x10", "page=abc&per_page=-1", "page=&per_page=", "page=%E2%85%A2&per_page=+7"}
	for _, list := range lists {
		for _, q := range queries {
			sep := "?"
			if strings.Contains(list, "?") {
				sep = "&"
			}
			status, body, _ := env.Get(t, carol, list+sep+q)
			if status != http.StatusOK {
				t.Errorf("%s%s%s: %d %.300s", list, sep, q, status, body)
			}
		}
	}

	// Past the end is the last page, with the way back.
	total := c.Namespace.Query().CountX(ctx)
	if total < 2 {
		t.Fatalf("the demo has %d namespaces; the test needs two", total)
	}
	_, body, _ := env.Get(t, carol, "/admin/namespaces?per_page=1&page=9223372036854775807")
	if want := fmt.Sprintf("%d–%d of %d", total, total, total); !strings.Contains(body, want) || !strings.Contains(body, `rel="prev"`) {
		t.Errorf("namespaces past the end: want %q and a link back in %.3000s", want, body)
	}
	_, body, _ = env.Get(t, carol, "/vms/"+vmID+"?tab=history&per_page=2&page=99999999999")
	if !strings.Contains(body, "3–3 of 3") || !strings.Contains(body, "page=1&amp;per_page=2") {
		t.Errorf("VM history past the end: want the last page in %.3000s", body)
	}
}

// A failed sign-in with a long name of multi-byte characters is audited: the name is cut
// at a character, never inside one, so PostgreSQL accepts the row. Request metadata from
// the client's headers is cut and made valid the same way.
func TestFailedSignInWithLongMultiByteNameIsAudited(t *testing.T) {
	env := apptest.Start(t)
	c := env.Client(t)
	name := strings.Repeat("é", 150) + "😀" // 304 bytes; byte 255 is inside an é
	_, page, _ := env.Get(t, c, "/login")
	form := "csrf_token=" + apptest.CSRF(t, page) + "&username=" + url.QueryEscape(name) + "&password=not-the-password-at-all"
	req, err := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "probe/1.0 \xff\xfe "+strings.Repeat("ü", 400))
	requestID := uuid.NewString() + strings.Repeat("ä", 100)
	req.Header.Set("X-Request-Id", requestID)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("an unknown user signed in: %s", resp.Header.Get("Location"))
	}

	rows, err := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("user.login_failed")).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d user.login_failed rows, want 1 (logs:\n%s)", len(rows), env.Logs.String())
	}
	r := rows[0]
	if want := strings.Repeat("é", 127); r.ActorName != want || r.ResourceName != want {
		t.Errorf("name recorded as %q (%d bytes), want 127 é", r.ActorName, len(r.ActorName))
	}
	if r.Details["reason"] != "unknown_user" {
		t.Errorf("reason %v", r.Details["reason"])
	}
	for field, v := range map[string]string{"user_agent": r.UserAgent, "request_id": r.RequestID} {
		if !utf8.ValidString(v) || v == "" {
			t.Errorf("%s %q is not valid UTF-8", field, v)
		}
	}
	if len(r.UserAgent) > 512 || !strings.HasPrefix(r.UserAgent, "probe/1.0 \uFFFD ü") {
		t.Errorf("user agent: %d bytes, %q…", len(r.UserAgent), r.UserAgent[:min(len(r.UserAgent), 20)])
	}
	// An incoming request id that is not a plain token is replaced by Shepherd's own.
	if r.RequestID == "" || len(r.RequestID) > 64 || strings.ContainsAny(r.RequestID, "äé") {
		t.Errorf("request id: %d bytes %q", len(r.RequestID), r.RequestID)
	}
}
