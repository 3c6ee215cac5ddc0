package loadtest

import (
	"context"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// BenchmarkAuditRetention archives 1,000,000 audit rows past their retention (test
// environment, 100–111 days old) the way the daily job does: chunks of 10,000 rows, each
// compressed, stored, deleted and audited in its own transaction.
func BenchmarkAuditRetention(b *testing.B) {
	ctx := context.Background()
	const rows = 1_000_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store := db.NewStore(db.SQLDB(testdb.New(b)))
		if _, err := store.SQL.Exec(`INSERT INTO audit_logs (id, created_at, action, actor_name, resource_type, resource_id,
			resource_name, parent_type, parent_id, environment, ip_address, user_agent, request_id, details)
			SELECT gen_random_uuid(), now() - interval '100 days' - g * interval '1 second', 'vm.start', 'bench-user', 'vm', 'vm-' || g,
			'shop-web-' || g, 'service', 'svc-1', 'test', '198.51.100.9', 'Mozilla/5.0 (bench)', 'req-' || g,
			jsonb_build_object('reason', 'nightly batch ' || g, 'size', 'small')
			FROM generate_series(1, $1) g`, rows); err != nil {
			b.Fatal(err)
		}
		if _, err := store.SQL.Exec("VACUUM ANALYZE audit_logs"); err != nil {
			b.Fatal(err)
		}
		a := &audit.Archiver{Store: store, Retention: audit.SpecRetention}
		b.StartTimer()
		start := time.Now()
		res, err := a.Run(ctx)
		took := time.Since(start)
		if err != nil || res.Rows != rows {
			b.Fatalf("archived %d of %d rows: %v", res.Rows, rows, err)
		}
		b.StopTimer()
		var size int64
		if err := store.SQL.QueryRow(`SELECT sum(size_bytes) FROM audit_archives`).Scan(&size); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s/run")
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(res.Archives), "archives")
		b.ReportMetric(float64(size)/(1<<20), "MiB-archived")
	}
}
