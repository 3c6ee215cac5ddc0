package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// budgetFixture gives alice 30 VMs of the demo Service "wiki" (each with its creation
// ticket, one with an operation in flight) and 30 pending requests: more than a page
// of everything, so lists page and rows show every column.
func budgetFixture(t *testing.T, env *apptest.Env) (vmID, ticketID, systemID string) {
	t.Helper()
	ctx := context.Background()
	c := env.App.Store.Ent
	alice := c.User.Query().Where(user.Username("alice")).OnlyX(ctx)
	svc := c.Service.Query().Where(service.Name("wiki")).FirstX(ctx)
	ns := c.Namespace.Query().Where(namespace.Name("dev")).OnlyX(ctx)
	size := c.InstanceSize.Query().FirstIDX(ctx)
	tpl := c.Template.Query().FirstIDX(ctx)
	cl := c.Cluster.Query().FirstIDX(ctx)
	db := env.App.Store.SQL
	_, err := db.ExecContext(ctx, `
WITH ev AS (
  INSERT INTO domain_events (id, created_at, updated_at, event_type, aggregate_type, aggregate_id, payload, status, requested_by, error_message)
  SELECT gen_random_uuid(), now(), now(), 'VM_CREATE_REQUESTED', 'vm', '', '{}'::jsonb, 'COMPLETED', $1, '' FROM generate_series(1, 60)
  RETURNING id),
tk AS (
  INSERT INTO approval_tickets (id, created_at, updated_at, type, status, event_id, requester_id, requester_name, reason, system_id,
    service_id, namespace_id, namespace_name, environment, target_name, instance_size_id, template_id)
  SELECT gen_random_uuid(), now() - (row_number() OVER ()) * interval '1 hour', now(), 'VM_CREATE',
    CASE WHEN row_number() OVER () <= 30 THEN 'SUCCESS' ELSE 'PENDING_APPROVAL' END, ev.id, $1, 'alice',
    'budget', $2, $3, $4, 'dev', 'test', 'dev/wiki', $5, $6
  FROM ev
  RETURNING id, status, created_at)
INSERT INTO vms (id, created_at, updated_at, name, service_id, system_id, namespace_id, namespace_name, environment, cluster_id,
  instance_index, instance_size_id, instance_size_name, template_id, ticket_id, status, created_by)
SELECT gen_random_uuid(), tk.created_at, now(), 'dev-budget-wiki-' || row_number() OVER (), $3, $2, $4, 'dev', 'test', $7,
  row_number() OVER (), $5, 'small', $6, tk.id, 'RUNNING', $1
FROM tk WHERE tk.status = 'SUCCESS'`, alice.ID, svc.SystemID, svc.ID, ns.ID, size, tpl, cl)
	if err != nil {
		t.Fatal(err)
	}
	// One VM with a stop under way: its row says so and its page shows the operation.
	if err := db.QueryRowContext(ctx, `SELECT id FROM vms WHERE name LIKE 'dev-budget-wiki-%' ORDER BY created_at DESC LIMIT 1`).Scan(&vmID); err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `
WITH ev AS (
  INSERT INTO domain_events (id, created_at, updated_at, event_type, aggregate_type, aggregate_id, payload, status, requested_by, error_message)
  VALUES (gen_random_uuid(), now(), now(), 'VM_STOP_REQUESTED', 'vm', $2, '{}'::jsonb, 'PROCESSING', $1, '') RETURNING id)
INSERT INTO approval_tickets (id, created_at, updated_at, type, status, event_id, requester_id, requester_name, reason, system_id,
  service_id, namespace_id, namespace_name, environment, target_name, vm_id, decided_at)
SELECT gen_random_uuid(), now(), now(), 'VM_STOP', 'EXECUTING', ev.id, $1, 'alice', 'budget', v.system_id, v.service_id,
  v.namespace_id, v.namespace_name, v.environment, v.name, v.id, now()
FROM ev, vms v WHERE v.id = $2::uuid`, alice.ID, vmID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM approval_tickets WHERE status = 'PENDING_APPROVAL' AND requester_name = 'alice' ORDER BY created_at LIMIT 1`).Scan(&ticketID); err != nil {
		t.Fatal(err)
	}
	return vmID, ticketID, svc.SystemID.String()
}

// TestStatementBudgets holds the main pages and the fragments live updates fetch to a
// number of SQL statements, counted on the database driver (the access log's
// statements=), for a platform admin and a member. A GET by a signed-in user writes
// nothing (the session's last-seen time is touched at most once a minute, and the
// sign-in just touched it).
func TestStatementBudgets(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	vmID, ticketID, systemID := budgetFixture(t, env)
	budgets := []struct {
		path   string
		budget int
	}{
		// The lists: at most 5 each (issue 14); today 2 or 3.
		{"/vms", 5},
		{"/vms?page=2", 5},
		{"/vms?page=last", 5},
		{"/approvals", 5},
		{"/requests", 5},
		// Other main pages, held to what they cost today.
		{"/vms/" + vmID, 3},
		{"/requests/" + ticketID, 3},
		{"/", 5}, // + the newest VMs (with their capped count) and the latest notifications
		{"/systems", 5},
		{"/systems/" + systemID, 4},
		{"/notifications", 4},
		// Fragments re-fetched on every pushed change: at most 3.
		{"/vms/rows", 3},
		{"/vms/" + vmID + "/status", 3},
		{"/requests/" + ticketID + "/status", 3},
		{"/notifications/badge", 2},
	}
	for _, who := range []string{"demo-carol", "demo-alice"} {
		c := env.Client(t)
		env.LoginOIDC(t, c, who)
		// The first page after sign-in loads the permissions into the cache (several
		// statements, once per user and change); the budgets are for every page after.
		if status, _, _ := env.Get(t, c, "/"); status != http.StatusOK {
			t.Fatalf("%s GET /: %d", who, status)
		}
		for _, b := range budgets {
			if who == "demo-alice" && b.path == "/approvals" {
				continue // alice approves nothing
			}
			req, err := http.NewRequest(http.MethodGet, env.URL+b.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s GET %s: status %d", who, b.path, resp.StatusCode)
				continue
			}
			st := env.StatementsOf(t, resp)
			t.Logf("%s GET %s: %d statements", who, b.path, st.Count)
			if st.Count > b.budget {
				t.Errorf("%s GET %s: %d statements, budget %d:\n%s", who, b.path, st.Count, b.budget,
					strings.ReplaceAll(st.SQL, " ;; ", "\n"))
			}
			if st.Writes > 0 {
				t.Errorf("%s GET %s: %d writes, want none:\n%s", who, b.path, st.Writes, strings.ReplaceAll(st.SQL, " ;; ", "\n"))
			}
		}
	}
}
