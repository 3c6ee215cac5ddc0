package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestPolicyFormsVersionsAndTheKillSwitch(t *testing.T) {
	env := apptest.Start(t)
	carol := signIn(t, env, "demo-carol")

	// A refused form names its fields and keeps the input.
	status, body, _ := carol.post(t, "/admin/policies", url.Values{"name": {""}, "priority": {"x"}})
	if status != http.StatusUnprocessableEntity || fieldError(body, "priority") == "" || fieldError(body, "name") == "" ||
		!strings.Contains(body, `data-testid="form-errors"`) {
		t.Fatalf("refused form: %d\n%s", status, errorsIn(body))
	}
	status, body, _ = carol.post(t, "/admin/policies", url.Values{"name": {""}, "priority": {"1"}})
	if status != http.StatusUnprocessableEntity || fieldError(body, "name") == "" || fieldError(body, "environments") == "" {
		t.Fatalf("refused form: %d\n%s", status, errorsIn(body))
	}

	form := url.Values{"name": {"routine"}, "priority": {"7"}, "environments": {"test", "prod"}, "max_disk_gb": {"200"}}
	loc := carol.mustRedirect(t, "/admin/policies", form)
	status, body = carol.get(t, loc)
	if status != http.StatusOK || !strings.Contains(body, `data-testid="policy-dry-run"`) || !strings.Contains(body, "Not confirmed") {
		t.Fatalf("policy page: %d", status)
	}
	// The author cannot confirm prod: refused with a flash, audited.
	carol.mustRedirect(t, loc+"/confirm-prod", nil)
	if n := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("autoapproval.policy.confirm_prod_refused")).CountX(t.Context()); n != 1 {
		t.Fatalf("refused confirmation audited %d times", n)
	}
	// An edit is version 2; a tie in priority is refused.
	form.Set("max_disk_gb", "100")
	carol.mustRedirect(t, loc, form)
	if _, body = carol.get(t, loc); !strings.Contains(body, "v2") {
		t.Fatal("the edit did not make version 2")
	}
	status, body, _ = carol.post(t, "/admin/policies", url.Values{"name": {"other"}, "priority": {"7"}, "environments": {"test"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "priority"), "routine") {
		t.Fatalf("tie: %d %q", status, fieldError(body, "priority"))
	}
	// Dry run of unsaved values renders the form with the replay.
	status, body, _ = carol.post(t, "/admin/policies/dry-run", url.Values{"name": {"try"}, "priority": {"3"}, "environments": {"test"}})
	if status != http.StatusOK || !strings.Contains(body, `data-testid="policy-dry-run"`) {
		t.Fatalf("dry run: %d\n%s", status, errorsIn(body))
	}
	carol.mustRedirect(t, "/admin/policies/kill-switch/on", nil)
	if _, body = carol.get(t, "/admin/policies"); !strings.Contains(body, `data-all-off="true"`) || !strings.Contains(body, "routine") {
		t.Fatal("list after the kill switch")
	}
	if _, body = carol.get(t, "/admin"); !strings.Contains(body, "all switched off") {
		t.Fatal("admin overview does not show the kill switch")
	}
}
