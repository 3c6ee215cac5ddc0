package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/paging"
)

// concurrency is the number of clients that keep one request each in flight (wrk -c 10).
const concurrency = 10

// benchDuration is how long each page is driven; SHEPHERD_BENCH_DURATION overrides it
// (a Go duration, e.g. 10s).
func benchDuration(b *testing.B) time.Duration {
	if s := os.Getenv("SHEPHERD_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("SHEPHERD_BENCH_DURATION: %v", err)
		}
		return d
	}
	return 5 * time.Second
}

// loadClient is a closed-loop client: concurrency goroutines, each sending its next
// request when the previous answer has been read, over kept-alive connections, signed in
// with one session cookie. It reads bodies into io.Discard so that it stays far from
// being the bottleneck.
type loadClient struct {
	base   string
	cookie string
	http   *http.Client
	pgPort string // of the benchmark's PostgreSQL, whose CPU time is measured
}

func newLoadClient(b *testing.B, env *apptest.Env, signedIn *http.Client) *loadClient {
	req, err := http.NewRequest(http.MethodGet, env.URL+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	var cookies []string
	for _, c := range signedIn.Jar.Cookies(req.URL) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	tr := &http.Transport{
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     time.Minute,
	}
	pgPort := "5432"
	if u, err := url.Parse(env.App.Config.DatabaseURL); err == nil && u.Port() != "" {
		pgPort = u.Port()
	}
	return &loadClient{
		base:   env.URL,
		pgPort: pgPort,
		cookie: strings.Join(cookies, "; "),
		http: &http.Client{
			Transport: tr,
			Timeout:   30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// result is one page's figures.
type result struct {
	Path       string
	Requests   int
	PerSecond  float64
	P50, P99   time.Duration
	Statements float64       // per request, process-wide (background work included)
	Prepares   float64       // per request
	DBTime     time.Duration // waiting for PostgreSQL per request at concurrency 10
	DBAlone    time.Duration // the same, one request at a time
	// CPU time per request of this process (portal and client) and of PostgreSQL: what
	// a page costs, little affected by other work on the machine. 2 cores divided by
	// their sum is the rate a quiet 2-core machine could sustain.
	PortalCPU, PGCPU time.Duration
}

// drive sends requests to path from concurrency clients for d and measures them.
func (lc *loadClient) drive(b *testing.B, path string, d time.Duration) result {
	url := lc.base + path
	// One warm-up round: every connection prepares its statements once.
	for range 2 * concurrency {
		if err := lc.get(url); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
	}
	// Sequential requests first: the time waiting for PostgreSQL without queueing behind
	// the other clients is closer to what PostgreSQL spends on the page.
	const alone = 50
	solo := db.ProcessTotals()
	for range alone {
		if err := lc.get(url); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
	}
	soloWait := (db.ProcessTotals().Wait - solo.Wait) / alone
	before := db.ProcessTotals()
	cpuBefore := readCPU(lc.pgPort)
	start := time.Now()
	deadline := start.Add(d)
	latencies := make([][]time.Duration, concurrency)
	errs := make([]error, concurrency)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := lc.get(url); err != nil {
					errs[i] = err
					return
				}
				l = append(l, time.Since(t0))
			}
			latencies[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := db.ProcessTotals()
	cpuAfter := readCPU(lc.pgPort)
	for _, err := range errs {
		if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := len(all)
	if n == 0 {
		b.Fatalf("%s: no request completed", path)
	}
	return result{
		Path:       path,
		Requests:   n,
		PerSecond:  float64(n) / elapsed.Seconds(),
		P50:        all[n/2],
		P99:        all[n*99/100],
		Statements: float64(after.Statements-before.Statements) / float64(n),
		Prepares:   float64(after.Prepares-before.Prepares) / float64(n),
		DBTime:     (after.Wait - before.Wait) / time.Duration(n),
		DBAlone:    soloWait,
		PortalCPU:  (cpuAfter.Process - cpuBefore.Process) / time.Duration(n),
		PGCPU:      cpuAfter.postgresSince(cpuBefore) / time.Duration(n),
	}
}

func (lc *loadClient) get(url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", lc.cookie)
	resp, err := lc.http.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// throughput drives each path in turn and reports req/s, p50, p99, statements and
// database time per request, as sub-benchmark metrics and as a Markdown table.
func throughput(b *testing.B, env *apptest.Env, vms int, paths []string) {
	c := env.Client(b)
	env.LoginOIDC(b, c, "demo-carol")
	lc := newLoadClient(b, env, c)
	d := benchDuration(b)
	var table []string
	table = append(table,
		fmt.Sprintf("| %d VMs, c=%d | req/s | p50 ms | p99 ms | statements | prepares | DB ms | DB ms alone | portal CPU ms | PG CPU ms | 2 cores / CPU |", vms, concurrency),
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	only := os.Getenv("SHEPHERD_BENCH_PAGES") // e.g. "approvals,status": drive only these
	for _, path := range paths {
		if only != "" && !matchesAny(path, strings.Split(only, ",")) {
			continue
		}
		var r result
		b.Run(strings.NewReplacer("/", "_", "?", "_", "=", "").Replace(strings.TrimPrefix(path, "/")), func(b *testing.B) {
			r = lc.drive(b, path, d)
			b.ReportMetric(r.PerSecond, "req/s")
			b.ReportMetric(ms(r.P50), "p50-ms")
			b.ReportMetric(ms(r.P99), "p99-ms")
			b.ReportMetric(r.Statements, "stmts/req")
			b.ReportMetric(ms(r.DBTime), "db-ms/req")
			b.ReportMetric(ms(r.DBAlone), "db-ms-alone/req")
			b.ReportMetric(ms(r.PortalCPU), "portal-cpu-ms/req")
			b.ReportMetric(ms(r.PGCPU), "pg-cpu-ms/req")
		})
		table = append(table, fmt.Sprintf("| %s | %.0f | %.2f | %.2f | %.1f | %.2f | %.2f | %.2f | %.3f | %.3f | %.0f |",
			path, r.PerSecond, ms(r.P50), ms(r.P99), r.Statements, r.Prepares, ms(r.DBTime), ms(r.DBAlone),
			ms(r.PortalCPU), ms(r.PGCPU), capacity(r)))
	}
	b.Log("\n" + strings.Join(table, "\n"))
}

// someID returns the first id a query finds.
func someID(b *testing.B, env *apptest.Env, query string) string {
	var id string
	if err := env.App.Store.SQL.QueryRowContext(context.Background(), query).Scan(&id); err != nil {
		b.Fatalf("%s: %v", query, err)
	}
	return id
}

// BenchmarkPagesThroughput drives the main pages at concurrency 10 through the whole
// stack (session, permissions, queries, render) with 10,000 VMs and 2,000 pending
// tickets, next to /health/ready, for SHEPHERD_BENCH_DURATION each (5 s). Run it with
// -benchtime 1x: each page's figures come from its own closed loop, not from b.N.
func BenchmarkPagesThroughput(b *testing.B) {
	env := apptest.Start(b)
	fill(b, env)
	vm := someID(b, env, `SELECT id FROM vms WHERE status <> 'DELETED' ORDER BY created_at DESC LIMIT 1`)
	ticket := someID(b, env, `SELECT id FROM approval_tickets WHERE status = 'PENDING_APPROVAL' ORDER BY created_at LIMIT 1`)
	if os.Getenv("SHEPHERD_BENCH_EXPLAIN") != "" {
		explain(b, env, `SELECT *, (SELECT count(*) FROM (SELECT 1 FROM approval_tickets WHERE status = 'PENDING_APPROVAL' AND environment IN ('prod', 'test') LIMIT 1001) counted) FROM approval_tickets WHERE status = 'PENDING_APPROVAL' AND environment IN ('prod', 'test') ORDER BY created_at, id LIMIT 21`)
		explainGeneric(b, env, `SELECT t.id, t.type, (SELECT count(*) FROM (SELECT 1 FROM approval_tickets t WHERE t.status = 'PENDING_APPROVAL' AND t.environment = ANY($1::text[]) LIMIT 201) counted) FROM (SELECT * FROM approval_tickets t WHERE t.status = 'PENDING_APPROVAL' AND t.environment = ANY($1::text[]) ORDER BY t.created_at ASC, t.id ASC LIMIT 21 OFFSET 0) t ORDER BY t.created_at ASC, t.id ASC`, "{prod,test}")
		explain(b, env, `SELECT count(*) FROM (SELECT 1 FROM vms v WHERE v.status <> 'DELETED' LIMIT 1001) counted`)
		explain(b, env, `SELECT id FROM vms v WHERE v.status <> 'DELETED' ORDER BY created_at DESC, id DESC LIMIT 21 OFFSET 7980`)
	}
	throughput(b, env, benchVMs, []string{
		"/health/ready",
		"/vms",
		"/vms/rows",
		"/vms?page=400",
		"/approvals",
		"/requests",
		"/vms/" + vm,
		"/vms/" + vm + "/status",
		"/requests/" + ticket + "/status",
		"/notifications/badge",
	})
}

func matchesAny(path string, parts []string) bool {
	for _, p := range parts {
		if p != "" && strings.Contains(path, p) {
			return true
		}
	}
	return false
}

// explainGeneric shows the plan PostgreSQL caches for a prepared statement once it goes
// generic (what a busy page runs after its fifth execution on a connection).
func explainGeneric(b *testing.B, env *apptest.Env, query string, arg string) {
	ctx := context.Background()
	conn, err := env.App.Store.SQL.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		b.Fatal(err)
	}
	defer conn.ExecContext(ctx, "RESET plan_cache_mode")
	if _, err := conn.ExecContext(ctx, "PREPARE explained(text[]) AS "+query); err != nil {
		b.Fatal(err)
	}
	defer conn.ExecContext(ctx, "DEALLOCATE explained")
	rows, err := conn.QueryContext(ctx, "EXPLAIN ANALYZE EXECUTE explained('"+arg+"')")
	if err != nil {
		b.Fatal(err)
	}
	logPlan(b, rows, "EXPLAIN ANALYZE (generic plan) "+query)
}

// BenchmarkMillionVMs is BenchmarkPagesThroughput's list pages with 1,000,000 VMs: the
// first page, the 400th page reached by its keyset cursor (what following Next 399 times
// gives), the last page, and the table body fragment. Page 1 and the others should cost
// the same. The fill is set-based (generate_series), about a minute on 2 cores. Run it
// with `make bench-million` (or -bench MillionVMs -benchtime 1x -timeout 30m).
func BenchmarkMillionVMs(b *testing.B) {
	env := apptest.Start(b)
	start := time.Now()
	fillN(b, env, 1_000_000, benchPending)
	b.Logf("filled 1,000,000 VMs in %s", time.Since(start).Round(time.Second))
	var cursor paging.Cursor
	if err := env.App.Store.SQL.QueryRowContext(context.Background(),
		`SELECT created_at, id FROM vms WHERE status <> 'DELETED' ORDER BY created_at DESC, id DESC OFFSET 7999 LIMIT 1`).
		Scan(&cursor.At, &cursor.ID); err != nil {
		b.Fatal(err)
	}
	vm := someID(b, env, `SELECT id FROM vms WHERE status <> 'DELETED' ORDER BY created_at DESC LIMIT 1`)
	throughput(b, env, 1_000_000, []string{
		"/health/ready",
		"/vms",
		"/vms?after=" + cursor.String(),
		"/vms?page=last",
		"/vms?page=400",
		"/vms/rows",
		"/approvals",
		"/vms/" + vm,
		"/vms/" + vm + "/status",
	})
}

// capacity is the request rate two cores could sustain at the measured CPU per request.
func capacity(r result) float64 {
	per := r.PortalCPU + r.PGCPU
	if per <= 0 {
		return 0
	}
	return float64(2*time.Second) / float64(per)
}
