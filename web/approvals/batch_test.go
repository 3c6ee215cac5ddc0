package approvals_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/apptest"
)

var batchPath = regexp.MustCompile(`^/batches/([0-9a-f-]{36})$`)

func (w *world) post(t *testing.T, c *http.Client, pagePath, action string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	_, page, _ := w.env.Get(t, c, pagePath)
	form.Set("csrf_token", apptest.CSRF(t, page))
	return w.env.PostForm(t, c, action, form)
}

func TestBatchRequestOverHTTP(t *testing.T) {
	w := setup(t)
	for _, bad := range []string{"0", "11", "three"} {
		status, body, _ := w.requestForm(t, url.Values{"count": {bad}})
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) ||
			!strings.Contains(body, "Enter a whole number from 1 to 10") || !strings.Contains(body, `value="`+bad+`"`) {
			t.Fatalf("count %q: %d %.300s", bad, status, body)
		}
	}
	status, body, resp := w.requestForm(t, url.Values{"count": {"3"}})
	m := batchPath.FindStringSubmatch(resp.Header.Get("Location"))
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("batch submit: %d %s %.300s", status, resp.Header.Get("Location"), body)
	}
	id := m[1]
	page := "/batches/" + id
	_, body, _ = w.env.Get(t, w.alice, page)
	if !strings.Contains(body, "3 new VMs for shop/web") || strings.Count(body, `data-testid="child-vm-status"`) != 3 ||
		!strings.Contains(body, "Waiting for approval") || strings.Contains(body, "PENDING_APPROVAL<") {
		t.Fatalf("batch page: %.2000s", body)
	}
	// A viewer of the System reads it; the inbox shows the batch as one row.
	if status, _, _ := w.env.Get(t, w.vic, page); status != http.StatusOK {
		t.Fatalf("viewer: %d", status)
	}
	_, inbox, _ := w.env.Get(t, w.bob, "/approvals")
	if strings.Count(inbox, `data-testid="inbox-batch"`) != 1 || !strings.Contains(inbox, `href="/approvals/batches/`+id+`"`) ||
		strings.Count(inbox, "<tr class=") != 1 {
		t.Fatalf("inbox: %.3000s", inbox)
	}
	// Nothing failed: a retry is refused with the reason in the error summary.
	status, body, _ = w.post(t, w.alice, page, page+"/retry", url.Values{})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) ||
		!strings.Contains(body, "Nothing in this batch can be retried") {
		t.Fatalf("retry without failures: %d %.300s", status, body)
	}
	// The requester cannot reach the decision routes; the viewer cannot retry.
	if status, _, _ := w.post(t, w.alice, page, "/approvals/batches/"+id+"/approve", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("requester approving: %d", status)
	}
	if status, _, _ := w.post(t, w.vic, page, page+"/retry", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("viewer retrying: %d", status)
	}
	// Rejecting needs a reason; then every waiting VM is rejected and nothing succeeded.
	decide := "/approvals/batches/" + id
	status, body, _ = w.post(t, w.bob, decide, decide+"/reject", url.Values{"reason": {" "}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-summary"`) {
		t.Fatalf("reject without reason: %d", status)
	}
	status, _, resp = w.post(t, w.bob, decide, decide+"/reject", url.Values{"reason": {"One runner is enough"}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("reject: %d %s", status, resp.Header.Get("Location"))
	}
	_, body, _ = w.env.Get(t, w.alice, page)
	if !strings.Contains(body, `data-status="FAILED"`) || strings.Count(body, "One runner is enough") != 3 {
		t.Fatalf("rejected batch page: %.2000s", body)
	}
	_, mine, _ := w.env.Get(t, w.alice, "/requests")
	if !strings.Contains(mine, `href="`+page+`"`) || !strings.Contains(mine, "3 new VMs") {
		t.Fatalf("my requests: %.2000s", mine)
	}
}
