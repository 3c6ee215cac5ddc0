package auditlog_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/audit"
)

// TestExportStreamsEveryRow exports whole filtered logs as JSON Lines and CSV: every
// matching row once, across keyset batches whose rows share one timestamp, newest first;
// spreadsheet formulas defused; the export recorded with its format.
func TestExportStreamsEveryRow(t *testing.T) {
	env := apptest.Start(t)
	carol := signedIn(t, env, "carol")
	seedRows(t, env)
	// 2,500 rows in one statement share now(): batches must page by id within a timestamp.
	_, err := env.App.Store.SQL.Exec(`INSERT INTO audit_logs (id, created_at, action, actor_name, resource_type, resource_id,
		resource_name, parent_type, parent_id, environment, ip_address, user_agent, request_id, details)
		SELECT gen_random_uuid(), now(), 'vm.stop', '=HYPERLINK("http://x")', 'vm', 'vm-' || g, 'bulk-' || g, '', '', 'test',
		'198.51.100.9', 'bulk', 'req-bulk', '{}'::jsonb FROM generate_series(1, 2500) g`)
	if err != nil {
		t.Fatal(err)
	}

	status, body, resp := env.Get(t, carol, "/admin/audit/export?format=jsonl&action=vm.")
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") ||
		!strings.HasSuffix(resp.Header.Get("Content-Disposition"), `.jsonl"`) {
		t.Fatalf("jsonl: %d %s %s", status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	seen := map[string]bool{}
	var last string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Timestamp string `json:"@timestamp"`
			ID        string `json:"id"`
			Action    string `json:"action"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v: %s", len(seen)+1, err, sc.Text())
		}
		if seen[ev.ID] {
			t.Fatalf("row %s exported twice", ev.ID)
		}
		if !strings.HasPrefix(ev.Action, "vm.") {
			t.Fatalf("filtered export has %s", ev.Action)
		}
		if last != "" && ev.Timestamp > last {
			t.Fatalf("not newest first: %s after %s", ev.Timestamp, last)
		}
		seen[ev.ID], last = true, ev.Timestamp
	}
	if len(seen) != 2500+3 {
		t.Fatalf("jsonl has %d rows; want %d", len(seen), 2500+3)
	}

	status, body, resp = env.Get(t, carol, "/admin/audit/export?format=csv&action=vm.stop")
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", status, resp.Header.Get("Content-Type"))
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+2500 || records[0][0] != "timestamp" || records[0][16] != "details" {
		t.Fatalf("csv: %d records, header %v", len(records), records[0])
	}
	if got := records[1][5]; got != `'=HYPERLINK("http://x")` {
		t.Fatalf("actor cell %q: a formula reaches the spreadsheet", got)
	}

	exports := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("audit.export")).Order(auditlog.ByCreatedAt()).AllX(t.Context())
	if len(exports) != 2 || exports[0].Details["format"] != "jsonl" || exports[1].Details["format"] != "csv" {
		t.Fatalf("audit.export rows: %d", len(exports))
	}
	if status, body, _ := env.Get(t, carol, "/admin/audit/export?format=xml"); status != http.StatusBadRequest || !strings.Contains(body, `"format"`) {
		t.Fatalf("format=xml: %d %s", status, body)
	}
	_ = audit.StreamBatch
}
