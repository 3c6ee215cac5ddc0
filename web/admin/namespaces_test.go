package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestCarolManagesNamespaces(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")

	status, body := carol.get(t, "/admin/namespaces")
	if status != http.StatusOK {
		t.Fatalf("list: %d", status)
	}
	for _, n := range []string{"dev", "qa", "prod"} {
		if rowOf(body, n) == "" {
			t.Errorf("seeded namespace %s not listed", n)
		}
	}

	// Invalid input re-renders with 422, the errors and what was typed.
	status, body, _ = carol.post(t, "/admin/namespaces", url.Values{"name": {"Team Alpha"}, "environment": {""}, "description": {"typed <text>"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid create: %d", status)
	}
	if e := fieldError(body, "name"); !strings.Contains(e, "lower-case") {
		t.Errorf("name error %q", e)
	}
	if e := fieldError(body, "environment"); !strings.Contains(e, "Choose the environment") {
		t.Errorf("environment error %q", e)
	}
	if v := inputValue(body, "name"); v != "Team Alpha" {
		t.Errorf("name kept as %q", v)
	}
	if !strings.Contains(body, "typed &lt;text&gt;</textarea>") {
		t.Error("description not kept (or not escaped)")
	}
	status, body, _ = carol.post(t, "/admin/namespaces", url.Values{"name": {"dev"}, "environment": {"test"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "name"), "already taken") {
		t.Fatalf("duplicate: %d %q", status, fieldError(body, "name"))
	}

	// Create, with the long-name warning flashed on the list.
	if loc := carol.mustRedirect(t, "/admin/namespaces", url.Values{"name": {"team-payments"}, "environment": {"prod"}, "description": {"Payments team"}}); loc != "/admin/namespaces" {
		t.Fatalf("create redirected to %s", loc)
	}
	_, body = carol.get(t, "/admin/namespaces")
	row := rowOf(body, "team-payments")
	if !strings.Contains(row, "env-prod") || !strings.Contains(row, "Payments team") || !strings.Contains(body, "13 characters") {
		t.Fatalf("new row %q / warning missing", row)
	}
	ns := env.App.Store.Ent.Namespace.Query().Where(namespace.Name("team-payments")).OnlyX(ctx)

	// Filter by environment and page.
	_, body = carol.get(t, "/admin/namespaces?environment=prod")
	if rowOf(body, "dev") != "" || rowOf(body, "prod") == "" || rowOf(body, "team-payments") == "" {
		t.Error("prod filter shows the wrong rows")
	}
	_, body = carol.get(t, "/admin/namespaces?per_page=2&page=2")
	if strings.Count(body, "<tr data-row=") != 2 || !strings.Contains(body, "3–4 of 4") {
		t.Errorf("page 2 of 2 per page: %d rows", strings.Count(body, "<tr data-row="))
	}

	// Edit the description; name and environment are not editable.
	status, body = carol.get(t, "/admin/namespaces/"+ns.ID.String()+"/edit")
	if status != http.StatusOK || strings.Contains(body, `name="name"`) || !strings.Contains(body, "Payments team") {
		t.Fatalf("edit page: %d", status)
	}
	status, body, _ = carol.post(t, "/admin/namespaces/"+ns.ID.String(), url.Values{"description": {strings.Repeat("x", 501)}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "description"), "At most 500") {
		t.Fatalf("long description: %d", status)
	}
	carol.mustRedirect(t, "/admin/namespaces/"+ns.ID.String(), url.Values{"description": {"Card payments"}})
	if d := env.App.Store.Ent.Namespace.GetX(ctx, ns.ID).Description; d != "Card payments" {
		t.Fatalf("description %q", d)
	}

	// Disable from a filtered list: the filter survives the round trip.
	loc := carol.mustRedirect(t, "/admin/namespaces/"+ns.ID.String()+"/disable", url.Values{"return": {"/admin/namespaces?environment=prod"}})
	if loc != "/admin/namespaces?environment=prod" {
		t.Errorf("disable returned to %s", loc)
	}
	_, body = carol.get(t, loc)
	if row := rowOf(body, "team-payments"); !strings.Contains(row, `data-enabled="disabled"`) || !strings.Contains(row, "Enable") {
		t.Errorf("disabled row %q", row)
	}
	if !strings.Contains(body, "New requests can no longer choose it") {
		t.Error("no flash after disabling")
	}
	// An outside return address is ignored.
	loc = carol.mustRedirect(t, "/admin/namespaces/"+ns.ID.String()+"/enable", url.Values{"return": {"https://evil.example/"}})
	if loc != "/admin/namespaces" {
		t.Errorf("enable returned to %s", loc)
	}
	if status, _ := carol.get(t, "/admin/namespaces/not-a-uuid/edit"); status != http.StatusNotFound {
		t.Errorf("bad id: %d", status)
	}
	acts := env.App.Store.Ent.AuditLog.Query().Where(auditlog.ResourceID(ns.ID.String())).Order(auditlog.ByCreatedAt()).AllX(ctx)
	var got []string
	for _, a := range acts {
		got = append(got, a.Action)
		if a.ActorName != "carol" || a.IPAddress == "" {
			t.Errorf("audit row %s: actor %q ip %q", a.Action, a.ActorName, a.IPAddress)
		}
	}
	if strings.Join(got, ",") != "namespace.create,namespace.update,namespace.disable,namespace.enable" {
		t.Errorf("audit %v", got)
	}
}
