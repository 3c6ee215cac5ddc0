package approvals_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func (w *world) batch(t *testing.T, c *http.Client, form url.Values) (int, string, *http.Response) {
	t.Helper()
	_, page, _ := w.env.Get(t, c, "/approvals")
	form.Set("csrf_token", apptest.CSRF(t, page))
	return w.env.PostForm(t, c, "/approvals/batch", form)
}

func TestBatchDecisionsFromTheInbox(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	c := w.env.App.Store.Ent
	var ids []string
	for _, name := range []string{"api", "db", "cache"} {
		svc := c.Service.Create().SetSystemID(w.svc.SystemID).SetName(name).SaveX(ctx)
		status, body, resp := w.requestForm(t, url.Values{"service_id": {svc.ID.String()}})
		m := ticketPath.FindStringSubmatch(resp.Header.Get("Location"))
		if status != http.StatusSeeOther || m == nil {
			t.Fatalf("submit: %d %.300s", status, body)
		}
		ids = append(ids, m[1])
	}
	_, inbox, _ := w.env.Get(t, w.bob, "/approvals")
	if n := strings.Count(inbox, `name="ticket"`); n != 3 || !strings.Contains(inbox, `data-testid="batch-approve"`) {
		t.Fatalf("inbox: %d checkboxes", n)
	}

	// Rejecting needs the one reason; the ticks come back with the message.
	status, body, _ := w.batch(t, w.bob, url.Values{"ticket": ids[:2], "decision": {"reject"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) ||
		strings.Count(body, `checked`) < 2 {
		t.Fatalf("reject without reason: %d", status)
	}
	status, body, _ = w.batch(t, w.bob, url.Values{"ticket": ids[:1], "decision": {"reject"}, "reason": {"duplicate"}})
	if status != http.StatusOK || !strings.Contains(body, "1 rejected.") {
		t.Fatalf("reject: %d %.500s", status, body)
	}
	// Approve all three: the rejected one is reported, the others approved with defaults.
	status, body, _ = w.batch(t, w.bob, url.Values{"ticket": append(ids, uuid.NewString()), "decision": {"approve"}})
	if status != http.StatusOK {
		t.Fatalf("approve: %d %.500s", status, body)
	}
	for _, want := range []string{"Approve: 4 requests", "2 approved, 1 already decided, 1 not decided.", "Already rejected by bob",
		"There is no such request", `href="/requests/` + ids[1] + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("result lacks %q: %s", want, body[strings.Index(body, "<main"):])
		}
	}
	for _, id := range ids[1:] {
		tk := c.ApprovalTicket.GetX(ctx, uuid.MustParse(id))
		if tk.Status == approvalticket.StatusPENDING_APPROVAL || tk.Status == approvalticket.StatusREJECTED || tk.VMID == nil || tk.SelectedClusterID == nil {
			t.Errorf("%s: %s", id, tk.Status)
		}
	}
	// Over 20: refused with a message, nothing decided.
	many := url.Values{"decision": {"approve"}}
	for range 21 {
		many.Add("ticket", uuid.NewString())
	}
	status, _, resp := w.batch(t, w.bob, many)
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/approvals" {
		t.Fatalf("21: %d", status)
	}
	if _, inbox, _ := w.env.Get(t, w.bob, "/approvals"); !strings.Contains(inbox, "You selected 21 requests; Approve selected takes at most 20") {
		t.Error("no message for an oversized batch")
	}
	// Requesters and viewers have no batch decisions.
	if status, _, _ := w.batch(t, w.alice, url.Values{"ticket": ids, "decision": {"approve"}}); status != http.StatusForbidden {
		t.Errorf("alice: %d", status)
	}
}
