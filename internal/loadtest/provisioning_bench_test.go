package loadtest

import (
	"context"
	"database/sql"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/jobs/vmcreate"
	"kv-shepherd.io/shepherd/internal/testorg"
)

const provisioningTickets = 1000

// BenchmarkProvisioning drives approved VM creates through the real workers (River on
// PostgreSQL, the provisioning executor, a simulated cluster with zero phase delays).
//
//   - stream: 1,000 requests approved one after another while the workers run; per
//     ticket it measures approve-commit → job start (River's LISTEN/NOTIFY path) and
//     approve-commit → VM RUNNING committed.
//   - backlog: 1,000 approvals made with the queue paused, then released; the drain
//     rate is the workers' throughput in VMs/s.
//
// Run with -benchtime 1x (make bench does).
func BenchmarkProvisioning(b *testing.B) {
	env := apptest.Start(b, apptest.Production, func(c *config.Config) {
		c.SimStepDelay = 0
		c.DBMaxConns = 40
		c.ProvisioningWorkers = 10
		c.JobPollInterval = time.Second
	})
	ctx := context.Background()
	store := env.App.Store
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		b.Fatal(err)
	}
	gov := &governance.Service{Store: store, Jobs: ins}
	org := testorg.New(b, ctx, store.Ent, "sim-bench")

	b.Run("stream", func(b *testing.B) {
		approved := map[uuid.UUID]time.Time{}
		start := time.Now()
		for range provisioningTickets {
			ev, _, err := org.Approved(ctx, store.Ent, gov)
			if err != nil {
				b.Fatal(err)
			}
			approved[ev] = time.Now()
		}
		last := drain(b, store.SQL, approved)
		toStart, toRunning := latencies(b, store.SQL, approved)
		b.ReportMetric(ms(percentile(toStart, 50)), "start-p50-ms")
		b.ReportMetric(ms(percentile(toStart, 99)), "start-p99-ms")
		b.ReportMetric(ms(percentile(toRunning, 50)), "running-p50-ms")
		b.ReportMetric(ms(percentile(toRunning, 99)), "running-p99-ms")
		b.ReportMetric(float64(len(approved))/last.Sub(start).Seconds(), "VMs/s")
	})

	b.Run("backlog", func(b *testing.B) {
		if err := env.App.River.QueuePause(ctx, vmcreate.Queue, nil); err != nil {
			b.Fatal(err)
		}
		approved := map[uuid.UUID]time.Time{}
		for range provisioningTickets {
			ev, _, err := org.Approved(ctx, store.Ent, gov)
			if err != nil {
				b.Fatal(err)
			}
			approved[ev] = time.Now()
		}
		start := time.Now()
		if err := env.App.River.QueueResume(ctx, vmcreate.Queue, nil); err != nil {
			b.Fatal(err)
		}
		last := drain(b, store.SQL, approved)
		b.ReportMetric(float64(len(approved))/last.Sub(start).Seconds(), "VMs/s")
		b.ReportMetric(last.Sub(start).Seconds(), "drain-s")
	})
}

// drain waits until every ticket finished and returns when the last one did. Failed
// tickets fail the benchmark: a fast wrong answer is no answer.
func drain(b *testing.B, db *sql.DB, approved map[uuid.UUID]time.Time) time.Time {
	b.Helper()
	ids := make([]string, 0, len(approved))
	for ev := range approved {
		ids = append(ids, ev.String())
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var done, failed int
		var last sql.NullTime
		err := db.QueryRow(`SELECT count(*) FILTER (WHERE status IN ('SUCCESS','FAILED')), count(*) FILTER (WHERE status = 'FAILED'),
			max(executed_at) FROM approval_tickets WHERE event_id::text = ANY($1)`, ids).Scan(&done, &failed, &last)
		if err != nil {
			b.Fatal(err)
		}
		if failed > 0 {
			b.Fatalf("%d tickets failed", failed)
		}
		if done == len(ids) {
			return last.Time
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tickets finished", done, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// latencies returns, per ticket, approve-commit → first job attempt and approve-commit
// → success committed.
func latencies(b *testing.B, db *sql.DB, approved map[uuid.UUID]time.Time) (toStart, toRunning []time.Duration) {
	b.Helper()
	rows, err := db.Query(`SELECT t.event_id, j.attempted_at, t.executed_at FROM approval_tickets t
		JOIN river_job j ON j.kind = 'vm_create' AND j.args->>'event_id' = t.event_id::text
		WHERE t.type = $1 AND t.status = 'SUCCESS'`, string(approvalticket.TypeVM_CREATE))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev uuid.UUID
		var started, executed time.Time
		if err := rows.Scan(&ev, &started, &executed); err != nil {
			b.Fatal(err)
		}
		at, ok := approved[ev]
		if !ok {
			continue
		}
		toStart = append(toStart, started.Sub(at))
		toRunning = append(toRunning, executed.Sub(at))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return toStart, toRunning
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
