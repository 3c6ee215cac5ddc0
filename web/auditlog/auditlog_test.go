package auditlog_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/audit"
)

func signedIn(t *testing.T, env *apptest.Env, name string) *http.Client {
	t.Helper()
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-"+name)
	return c
}

// seedRows writes records the way use cases do, through audit.Write.
func seedRows(t *testing.T, env *apptest.Env) {
	t.Helper()
	ctx := audit.WithRequest(t.Context(), audit.Request{IP: "203.0.113.7", UserAgent: "test", RequestID: "req-fixture"})
	dana := env.App.Store.Ent.User.Query().Where(user.Username("dana")).OnlyX(ctx).ID
	for _, e := range []audit.Entry{
		{Action: "vm.create", ActorName: "bob", ResourceType: "vm", ResourceID: "vm-1", ResourceName: "shop-web-01",
			ParentType: "service", ParentID: "svc-1", Environment: "prod",
			Details: map[string]any{"size": "small", "kubeconfig": "apiVersion: v1", "note": strings.Repeat("x", 120)}},
		{Action: "vm.delete", ActorName: "bob", ResourceType: "vm", ResourceID: "vm-2", ResourceName: "shop-db-01", Environment: "test"},
		{Action: "vm.start", ActorID: &dana, ActorName: "dana", ResourceType: "vm", ResourceID: "vm-1", ResourceName: "shop-web-01", Environment: "prod"},
		{Action: "system.create", ActorID: &dana, ActorName: "dana", ResourceType: "system", ResourceID: "sys-1", ResourceName: "shop"},
	} {
		if err := audit.Write(ctx, env.App.Store.Ent, e); err != nil {
			t.Fatal(err)
		}
	}
}

func rowActions(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `data-testid="audit-row" data-action="`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

func countAction(t *testing.T, env *apptest.Env, action string) int {
	t.Helper()
	return env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action(action)).CountX(t.Context())
}

func TestAuditLogIsForAuditReadOnly(t *testing.T) {
	env := apptest.Start(t)
	for _, who := range []string{"alice", "bob", "victor"} {
		c := signedIn(t, env, who)
		for _, path := range []string{"/admin/audit", "/admin/audit/export"} {
			if status, _, _ := env.Get(t, c, path); status != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", who, path, status)
			}
		}
	}
	if n := countAction(t, env, "audit.view") + countAction(t, env, "audit.export"); n != 0 {
		t.Fatalf("refused requests were audited as views: %d", n)
	}
	carol := signedIn(t, env, "carol")
	status, body, _ := env.Get(t, carol, "/admin/audit")
	if status != http.StatusOK || !strings.Contains(body, "<h1>Audit log</h1>") || !strings.Contains(body, `data-action="user.login"`) {
		t.Fatalf("carol: %d", status)
	}
}

func TestAuditFiltersNarrowResultsAndViewsAreAudited(t *testing.T) {
	env := apptest.Start(t)
	carol := signedIn(t, env, "carol")
	seedRows(t, env)
	today := time.Now().UTC().Format("2006-01-02")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	cases := []struct {
		query string
		want  []string
	}{
		{"action=vm.", []string{"vm.start", "vm.delete", "vm.create"}},
		{"action=vm.*&environment=prod", []string{"vm.start", "vm.create"}},
		{"action=vm.delete", []string{"vm.delete"}},
		{"actor=dana", []string{"system.create", "vm.start"}},
		{"resource_type=vm&resource_id=vm-1", []string{"vm.start", "vm.create"}},
		{"resource_type=system", []string{"system.create"}},
		{"action=vm.&from=" + today + "&to=" + today, []string{"vm.start", "vm.delete", "vm.create"}},
		{"action=vm.&to=" + yesterday, nil},
	}
	for _, tc := range cases {
		before := countAction(t, env, "audit.view")
		status, body, _ := env.Get(t, carol, "/admin/audit?"+tc.query)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", tc.query, status)
		}
		if got := rowActions(body); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: rows %v, want %v", tc.query, got, tc.want)
		}
		if after := countAction(t, env, "audit.view"); after != before+1 {
			t.Errorf("%s: %d audit.view rows written, want 1", tc.query, after-before)
		}
	}
	view := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("audit.view")).
		Order(auditlog.ByCreatedAt()).AllX(t.Context())
	last := view[len(view)-1]
	filters, _ := last.Details["filters"].(map[string]any)
	if last.ActorName != "carol" || last.ActorID == nil || filters["action"] != "vm." || filters["to"] != yesterday || last.IPAddress == "" {
		t.Fatalf("audit.view row: actor %q filters %v ip %q", last.ActorName, last.Details, last.IPAddress)
	}

	// The page shows the columns, with secrets redacted and long values cut.
	_, body, _ := env.Get(t, carol, "/admin/audit?action=vm.create")
	for _, want := range []string{"shop-web-01", "203.0.113.7", "req-fixture", "kubeconfig=</span>[REDACTED]", "size=</span>small",
		"…", "All details", `href="/admin/audit?resource_id=vm-1&amp;resource_type=vm"`, "in service svc-1"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "apiVersion: v1") {
		t.Error("kubeconfig value shown")
	}

	// Bad filters: 400 with the field marked, and no view recorded.
	before := countAction(t, env, "audit.view")
	for _, q := range []string{"from=2026-13-01", "from=2026-03-02&to=2026-03-01", "environment=staging", "action=vm%3Bdrop"} {
		status, body, _ := env.Get(t, carol, "/admin/audit?"+q)
		if status != http.StatusBadRequest || !strings.Contains(body, `aria-invalid="true"`) {
			t.Errorf("%s: %d", q, status)
		}
	}
	if countAction(t, env, "audit.view") != before {
		t.Error("invalid queries were recorded as views")
	}
}

func TestAuditPagesTwentyAtATime(t *testing.T) {
	env := apptest.Start(t)
	carol := signedIn(t, env, "carol")
	for range 23 {
		if err := audit.Write(t.Context(), env.App.Store.Ent, audit.Entry{Action: "bulk.touch", ActorName: "bob"}); err != nil {
			t.Fatal(err)
		}
	}
	_, body, _ := env.Get(t, carol, "/admin/audit?action=bulk.touch")
	if n := len(rowActions(body)); n != 20 || !strings.Contains(body, "1–20 of 23") || !strings.Contains(body, `rel="next"`) {
		t.Fatalf("page 1: %d rows", n)
	}
	_, body, _ = env.Get(t, carol, "/admin/audit?action=bulk.touch&page=2")
	if n := len(rowActions(body)); n != 3 {
		t.Fatalf("page 2: %d rows", n)
	}
	_, body, _ = env.Get(t, carol, "/admin/audit?action=bulk.touch&per_page=500")
	if n := len(rowActions(body)); n != 23 || !strings.Contains(body, "1–23 of 23") {
		t.Fatalf("per_page above 100: %d rows", n)
	}
}

type exported struct {
	Data []struct {
		Timestamp string `json:"@timestamp"`
		ID        string `json:"id"`
		Action    string `json:"action"`
		Level     string `json:"level"`
		Actor     struct {
			ID   *string `json:"id"`
			Name string  `json:"name"`
			IP   string  `json:"ip"`
		} `json:"actor"`
		Resource struct {
			Type, ID, Name string
		} `json:"resource"`
		Context struct {
			Environment string `json:"environment"`
			RequestID   string `json:"request_id"`
		} `json:"context"`
		Details map[string]any `json:"details"`
	} `json:"data"`
	Pagination struct {
		Page    int  `json:"page"`
		PerPage int  `json:"per_page"`
		Total   int  `json:"total"`
		HasMore bool `json:"has_more"`
	} `json:"pagination"`
}

func TestExportJSON(t *testing.T) {
	env := apptest.Start(t)
	carol := signedIn(t, env, "carol")
	seedRows(t, env)

	status, body, resp := env.Get(t, carol, "/admin/audit/export?action=vm.&environment=prod&per_page=5000")
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="shepherd-audit-`) {
		t.Fatalf("export: %d %s %s", status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	var doc exported
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Pagination.PerPage != 1000 || doc.Pagination.Total != 2 || doc.Pagination.HasMore || len(doc.Data) != 2 {
		t.Fatalf("pagination %+v, %d rows", doc.Pagination, len(doc.Data))
	}
	ev := doc.Data[1] // oldest last
	if ev.Action != "vm.create" || ev.Level != "info" || ev.Actor.Name != "bob" || ev.Actor.IP != "203.0.113.7" ||
		ev.Resource.Type != "vm" || ev.Resource.ID != "vm-1" || ev.Resource.Name != "shop-web-01" ||
		ev.Context.Environment != "prod" || ev.Context.RequestID != "req-fixture" || ev.Details["kubeconfig"] != audit.Redacted {
		t.Fatalf("event: %+v", ev)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil || ev.ID == "" {
		t.Fatalf("@timestamp %q id %q", ev.Timestamp, ev.ID)
	}
	for _, key := range []string{`"@timestamp"`, `"actor":{"id":null,"name":"bob","ip":"203.0.113.7"`, `"context":{"environment":"prod"`} {
		if !strings.Contains(body, key) {
			t.Errorf("export lacks %s", key)
		}
	}

	// Paging through with the same filters.
	_, body, _ = env.Get(t, carol, "/admin/audit/export?action=vm.&per_page=2")
	doc = exported{}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Data) != 2 || !doc.Pagination.HasMore || doc.Pagination.Total != 3 {
		t.Fatalf("per_page=2: %+v %v", doc.Pagination, err)
	}
	_, body, _ = env.Get(t, carol, "/admin/audit/export?action=vm.&per_page=2&page=2")
	doc = exported{}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Data) != 1 || doc.Data[0].Action != "vm.create" || doc.Pagination.HasMore {
		t.Fatalf("page 2: %+v %v", doc.Pagination, err)
	}

	exports := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("audit.export")).Order(auditlog.ByCreatedAt()).AllX(t.Context())
	if len(exports) != 3 || exports[0].ActorName != "carol" || exports[0].Details["count"] != float64(2) ||
		exports[0].Details["per_page"] != float64(1000) {
		t.Fatalf("audit.export rows: %d %+v", len(exports), exports[0].Details)
	}

	// Invalid filters: a JSON error with code and params, nothing recorded.
	status, body, _ = env.Get(t, carol, "/admin/audit/export?start_time=yesterday")
	if status != http.StatusBadRequest || !strings.Contains(body, `"code":"VALIDATION_FAILED"`) || !strings.Contains(body, `"from"`) {
		t.Fatalf("bad export: %d %s", status, body)
	}
	if countAction(t, env, "audit.export") != 3 {
		t.Fatal("a refused export was recorded")
	}
}
