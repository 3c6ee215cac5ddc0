package loadtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/apptest"
)

const (
	benchVMs     = 10000
	benchPending = 2000
)

// fill adds benchVMs VMs and benchPending pending tickets (with their events) to the demo
// organisation, spread over the demo Systems, in a few set-based statements.
func fill(b *testing.B, env *apptest.Env) { fillN(b, env, benchVMs, benchPending) }

// fillN is fill with vms VMs and pending tickets.
func fillN(b *testing.B, env *apptest.Env, vms, pending int) {
	ctx := context.Background()
	c := env.App.Store.Ent
	systems := c.System.Query().AllX(ctx)
	ns := c.Namespace.Query().FirstX(ctx)
	size := c.InstanceSize.Query().FirstX(ctx)
	tpl := c.Template.Query().FirstX(ctx)
	cl := c.Cluster.Query().FirstX(ctx)
	user := c.User.Query().FirstX(ctx)
	var services []*ent.Service
	for i, s := range systems {
		services = append(services, c.Service.Create().SetSystemID(s.ID).SetName(fmt.Sprintf("svc%d", i)).SaveX(ctx))
	}
	db := env.App.Store.SQL
	for i, svc := range services {
		n := vms / len(services)
		_, err := db.ExecContext(ctx, `
INSERT INTO vms (id, created_at, updated_at, name, service_id, system_id, namespace_id, namespace_name, environment, cluster_id,
  instance_index, instance_size_id, instance_size_name, template_id, ticket_id, status, created_by)
SELECT gen_random_uuid(), now() - g * interval '1 minute', now(), $1 || '-' || g, $2, $3, $4, $5, $6, $7,
  g, $8, $9, $10, gen_random_uuid(), (ARRAY['RUNNING','STOPPED','CREATING'])[1 + g % 3], $11
FROM generate_series(1, $12) AS g`,
			fmt.Sprintf("%s-vm%d", ns.Name, i), svc.ID, svc.SystemID, ns.ID, ns.Name, string(ns.Environment), cl.ID,
			size.ID, size.Name, tpl.ID, user.ID, n)
		if err != nil {
			b.Fatal(err)
		}
		m := pending / len(services)
		_, err = db.ExecContext(ctx, `
WITH ev AS (
  INSERT INTO domain_events (id, created_at, updated_at, event_type, aggregate_type, aggregate_id, payload, status, requested_by, error_message)
  SELECT gen_random_uuid(), now(), now(), 'VM_CREATE_REQUESTED', 'vm', '', '{}'::jsonb, 'PENDING', $1, '' FROM generate_series(1, $2)
  RETURNING id)
INSERT INTO approval_tickets (id, created_at, updated_at, type, status, event_id, requester_id, requester_name, reason, system_id,
  service_id, namespace_id, namespace_name, environment, target_name, instance_size_id, template_id)
SELECT gen_random_uuid(), now() - (row_number() OVER ()) * interval '7 minutes', now(), 'VM_CREATE', 'PENDING_APPROVAL', ev.id, $1, 'bench',
  'benchmark', $3, $4, $5, $6, $7, 'bench/svc', $8, $9
FROM ev`, user.ID, m, svc.SystemID, svc.ID, ns.ID, ns.Name, string(ns.Environment), size.ID, tpl.ID)
		if err != nil {
			b.Fatal(err)
		}
	}
	// Steady state: autovacuum has run (visibility map set, statistics fresh).
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

func explain(b *testing.B, env *apptest.Env, query string, args ...any) {
	rows, err := env.App.Store.SQL.QueryContext(context.Background(), "EXPLAIN ANALYZE "+query, args...)
	if err != nil {
		b.Fatal(err)
	}
	logPlan(b, rows, "EXPLAIN ANALYZE "+query)
}

// logPlan logs the lines of an EXPLAIN under title and closes rows.
func logPlan(b *testing.B, rows *sql.Rows, title string) {
	b.Helper()
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			b.Fatal(err)
		}
		lines = append(lines, l)
	}
	b.Logf("%s\n%s", title, strings.Join(lines, "\n"))
}

// BenchmarkPages measures server time of the inbox and the VM list (first page, with all
// middleware: session, CSRF token, permission load, render) with 10,000 VMs and 2,000
// pending tickets. It reports p50 and p99 per page.
func BenchmarkPages(b *testing.B) {
	env := apptest.Start(b)
	fill(b, env)
	c := env.Client(b)
	env.LoginOIDC(b, c, "demo-carol")
	explain(b, env, `SELECT * FROM approval_tickets WHERE status = 'PENDING_APPROVAL' AND environment IN ('prod','test') ORDER BY created_at ASC LIMIT 20`)
	explain(b, env, `SELECT id FROM vms WHERE status <> 'DELETED' ORDER BY created_at DESC, id DESC LIMIT 20`)
	explain(b, env, `SELECT id FROM vms WHERE status <> 'DELETED' ORDER BY created_at DESC, id DESC OFFSET 7980 LIMIT 20`)
	explain(b, env, `SELECT count(*) FROM vms WHERE status <> 'DELETED'`)
	for _, path := range []string{"/approvals", "/vms", "/approvals?page=50", "/vms?page=400"} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(path, "/"), "?", "_"), func(b *testing.B) {
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				status, _, _ := env.Get(b, c, path)
				d = append(d, time.Since(start))
				if status != http.StatusOK {
					b.Fatalf("%s: %d", path, status)
				}
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
