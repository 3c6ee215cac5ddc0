package loadtest

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// BenchmarkAuditExport streams 1,000,000 audit rows as JSON Lines and as CSV through the
// whole stack (GET /admin/audit/export?format=…, signed in as a platform admin) and
// reports the time, the rate and the peak Go heap sampled during the export — the
// process's memory must not grow with the size of the log.
func BenchmarkAuditExport(b *testing.B) {
	env := apptest.Start(b)
	const rows = 1_000_000
	start := time.Now()
	_, err := env.App.Store.SQL.Exec(`INSERT INTO audit_logs (id, created_at, action, actor_name, resource_type, resource_id,
		resource_name, parent_type, parent_id, environment, ip_address, user_agent, request_id, details)
		SELECT gen_random_uuid(), now() - g * interval '1 second', 'vm.start', 'bench-user', 'vm', 'vm-' || g, 'shop-web-' || g,
		'service', 'svc-1', 'test', '198.51.100.9', 'Mozilla/5.0 (bench)', 'req-' || g,
		jsonb_build_object('reason', 'nightly batch ' || g, 'size', 'small')
		FROM generate_series(1, $1) g`, rows)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := env.App.Store.SQL.Exec("VACUUM ANALYZE audit_logs"); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d audit rows in %s", rows, time.Since(start).Round(time.Millisecond))
	c := env.Client(b)
	env.LoginOIDC(b, c, "demo-carol")
	c.Timeout = 10 * time.Minute // a million rows take longer than a page
	for _, format := range []string{"jsonl", "csv"} {
		b.Run(format, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				peak := sampleHeap()
				start := time.Now()
				resp, err := c.Get(env.URL + "/admin/audit/export?format=" + format)
				if err != nil {
					b.Fatal(err)
				}
				n, lines := countLines(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				max := peak()
				if resp.StatusCode != http.StatusOK || lines < rows {
					b.Fatalf("%s: %d, %d lines", format, resp.StatusCode, lines)
				}
				b.ReportMetric(took.Seconds(), "s/export")
				b.ReportMetric(float64(lines)/took.Seconds(), "rows/s")
				b.ReportMetric(float64(n)/(1<<20), "MiB-out")
				b.ReportMetric(float64(max-base.HeapAlloc)/(1<<20), "peak-heap-growth-MiB")
			}
		})
	}
}

// countLines reads the body to the end, counting bytes and lines.
func countLines(r io.Reader) (int64, int) {
	br := bufio.NewReaderSize(r, 256<<10)
	var n int64
	lines := 0
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			lines++
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return n, lines
		}
	}
}

// sampleHeap samples the Go heap every 20 ms until the returned function is called,
// which stops sampling and returns the largest HeapAlloc seen.
func sampleHeap() func() uint64 {
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan uint64, 1)
	go func() {
		var max uint64
		var m runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > max {
				max = m.HeapAlloc
			}
			select {
			case <-ctx.Done():
				result <- max
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { cancel(); return <-result }
}
