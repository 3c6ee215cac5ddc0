package vms_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/vm"
)

func TestBatchPowerFromTheVMList(t *testing.T) {
	w := setup(t)
	a, b := w.running(t, w.alice, w.dev), w.running(t, w.alice, w.dev)
	_, list, _ := w.env.Get(t, w.alice, "/vms")
	for _, want := range []string{`data-testid="vm-batch"`, `name="vm" value="` + a.ID.String() + `"`, `data-testid="batch-stop"`,
		`src="/static/js/batch.js"`} {
		if !strings.Contains(list, want) {
			t.Errorf("alice's list lacks %s", want)
		}
	}
	if strings.Contains(list, `data-testid="batch-delete"`) {
		t.Error("alice may not delete, but the list offers it")
	}
	// The rows fragment the list re-fetches keeps the checkboxes.
	if _, rows, _ := w.env.Get(t, w.alice, "/vms/rows"); !strings.Contains(rows, `name="vm" value="`+b.ID.String()+`"`) {
		t.Error("the rows fragment lacks the checkboxes")
	}
	// Victor only reads: no checkboxes, and the route refuses him.
	if _, vl, _ := w.env.Get(t, w.vic, "/vms"); strings.Contains(vl, `data-testid="vm-batch"`) {
		t.Error("a viewer is offered batch actions")
	}
	if status, _, _ := w.post(t, w.vic, "/vms", "/vms/batch/power", url.Values{"vm": {a.ID.String()}, "op": {"stop"}}); status != http.StatusForbidden {
		t.Errorf("viewer: %d", status)
	}

	stranger := uuid.NewString()
	status, body, _ := w.post(t, w.alice, "/vms", "/vms/batch/power", url.Values{"vm": {a.ID.String(), b.ID.String(), stranger},
		"op": {"stop"}, "back": {"/vms?status=RUNNING"}})
	if status != http.StatusOK {
		t.Fatalf("batch stop: %d %.400s", status, body)
	}
	for _, want := range []string{"Stop: 3 VMs", "2 stop queued, 1 not done.", `data-batch-item="` + a.Name + `"`, `href="/vms/` + a.ID.String() + `"`,
		"There is no such VM, or you may not see it.", `href="/vms?status=RUNNING"`} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	w.waitStatus(t, a.ID, vm.StatusSTOPPED)
	w.waitStatus(t, b.ID, vm.StatusSTOPPED)

	// Again: both are reported as already stopped, nothing is written.
	before := w.env.App.Store.Ent.ApprovalTicket.Query().CountX(context.Background())
	_, body, _ = w.post(t, w.alice, "/vms", "/vms/batch/power", url.Values{"vm": {a.ID.String(), b.ID.String()}, "op": {"stop"},
		"back": {"https://elsewhere.example/vms"}})
	if !strings.Contains(body, "2 nothing to do.") || strings.Count(body, "Already stopped.") != 2 || !strings.Contains(body, `href="/vms" role="button"`) {
		t.Errorf("second stop: %.2000s", body)
	}
	if n := w.env.App.Store.Ent.ApprovalTicket.Query().CountX(context.Background()); n != before {
		t.Errorf("tickets %d -> %d", before, n)
	}

	// Over the limit: refused as a whole with a message on the list.
	many := url.Values{"op": {"start"}}
	for range 51 {
		many.Add("vm", uuid.NewString())
	}
	status, _, resp := w.post(t, w.alice, "/vms", "/vms/batch/power", many)
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/vms" {
		t.Fatalf("51 VMs: %d %s", status, resp.Header.Get("Location"))
	}
	if _, list, _ := w.env.Get(t, w.alice, "/vms"); !strings.Contains(list, "You selected 51 VMs; Start takes at most 50 at a time. Nothing was done") {
		t.Error("the list does not say why the batch was refused")
	}
	if n := w.env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("vm.batch_stop")).CountX(context.Background()); n != 2 {
		t.Errorf("%d batch audit rows, want 2", n)
	}
}

func TestBatchDeleteFromTheVMList(t *testing.T) {
	w := setup(t)
	a, b := w.running(t, w.dana, w.dev), w.running(t, w.dana, w.dev)
	p := w.running(t, w.dana, w.prod)
	ctx := context.Background()

	// Mixed environments are refused with the reason.
	status, body, _ := w.post(t, w.dana, "/vms", "/vms/batch/delete", url.Values{"vm": {a.ID.String(), p.ID.String()}})
	if status != http.StatusSeeOther {
		t.Fatalf("mixed: %d %.300s", status, body)
	}
	if _, list, _ := w.env.Get(t, w.dana, "/vms"); !strings.Contains(list, "separate batches") {
		t.Error("mixed batch: no message")
	}
	// Test VMs: a confirmation page listing them, then a ticked box and a reason.
	ids := url.Values{"vm": {a.ID.String(), b.ID.String()}}
	status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", ids)
	if status != http.StatusOK || !strings.Contains(body, "Delete 2 VMs?") || !strings.Contains(body, `data-testid="batch-delete-confirm"`) ||
		!strings.Contains(body, a.Name) || !strings.Contains(body, b.Name) {
		t.Fatalf("confirmation: %d %.500s", status, body)
	}
	confirm := url.Values{"vm": ids["vm"], "step": {"confirm"}, "reason": {"team moved"}}
	status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", confirm)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) || !strings.Contains(body, "Tick the box") {
		t.Fatalf("unconfirmed: %d", status)
	}
	confirm.Set("confirm", "1")
	status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", confirm)
	if status != http.StatusOK || !strings.Contains(body, "Delete: 2 VMs") || strings.Count(body, `data-outcome="requested"`) != 2 {
		t.Fatalf("confirmed: %d %.800s", status, body)
	}
	if n := w.env.App.Store.Ent.ApprovalTicket.Query().Where(approvalticket.TypeEQ(approvalticket.TypeVM_DELETE),
		approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).CountX(ctx); n != 2 {
		t.Errorf("%d pending deletions, want 2", n)
	}
	// Sent again: the VMs already have deletion requests; nothing more is written and each is named.
	status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", confirm)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Nothing was deleted") || !strings.Contains(body, "already waiting for approval") {
		t.Errorf("again: %d %.800s", status, body)
	}

	// Prod: each name typed.
	pf := url.Values{"vm": {p.ID.String()}, "step": {"confirm"}, "reason": {"decommissioned"}, "confirm_name_" + p.ID.String(): {"nope"}}
	status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", pf)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "does not match") {
		t.Fatalf("prod wrong name: %d", status)
	}
	pf.Set("confirm_name_"+p.ID.String(), p.Name)
	if status, body, _ = w.post(t, w.dana, "/vms", "/vms/batch/delete", pf); status != http.StatusOK {
		t.Fatalf("prod: %d %.500s", status, body)
	}
	// Alice has no vm:delete at all.
	if status, _, _ := w.post(t, w.alice, "/vms", "/vms/batch/delete", ids); status != http.StatusForbidden {
		t.Errorf("alice: %d", status)
	}
}
