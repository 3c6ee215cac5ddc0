package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// BenchmarkLiveUpdates measures the pages' event streams (GET /events):
//
//   - commit → event: 200 notifications of alice's committed one by one (with 1,000 other
//     streams open), timed from just before the INSERT's autocommit to the moment her open
//     stream delivers the "bell" event; p50/p99.
//   - idle cost: 1,000 open streams of bob's (1,000 idle tabs) for 60 s: CPU seconds of the
//     portal (this process) and of PostgreSQL (postmaster and its children, from /proc),
//     next to the same 60 s with no stream open.
//
// The 1,000 streams are held by a child process (this test binary re-run as the client),
// so their reading costs the portal's figures nothing. Run with
// `go test -run '^$' -bench LiveUpdates -benchtime 1x ./internal/loadtest/`; LIVE_IDLE
// shortens the 60 s windows (e.g. LIVE_IDLE=10s).
func BenchmarkLiveUpdates(b *testing.B) {
	idle := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("LIVE_IDLE")); err == nil {
		idle = d
	}
	env := apptest.Start(b)
	ctx := context.Background()
	alice, bob := env.Client(b), env.Client(b)
	env.LoginOIDC(b, alice, "demo-alice")
	env.LoginOIDC(b, bob, "demo-bob")
	pg := postmaster(b, env)

	b.ResetTimer()
	for range b.N {
		base := measure(b, pg, idle)

		streams := 1000
		client := exec.Command(os.Args[0], "-test.run=^TestLiveStreamClient$", "-test.v")
		client.Env = append(os.Environ(), "LIVE_CLIENT_URL="+env.URL+"/events", "LIVE_CLIENT_COOKIE="+cookie(b, env, bob),
			"LIVE_CLIENT_STREAMS="+strconv.Itoa(streams))
		stdin, _ := client.StdinPipe()
		out, _ := client.StdoutPipe()
		client.Stderr = os.Stderr
		if err := client.Start(); err != nil {
			b.Fatal(err)
		}
		waitLine(b, out, "ready")
		if n := env.App.Live.Subscribers(); n < streams {
			b.Fatalf("%d streams open, want %d", n, streams)
		}
		busy := measure(b, pg, idle)
		clientCPU := cpuOf(b, client.Process.Pid)

		// commit → event, with the 1,000 streams still open.
		lat := eventLatencies(b, env, alice, 200)
		stdin.Close()
		_ = client.Wait()

		b.ReportMetric(ms(percentile(lat, 50)), "commit-to-event-p50-ms")
		b.ReportMetric(ms(percentile(lat, 99)), "commit-to-event-p99-ms")
		b.ReportMetric(busy.portal, "portal-cpu-s/1000-idle-streams")
		b.ReportMetric(busy.pg, "pg-cpu-s/1000-idle-streams")
		fmt.Printf("\n| %d open streams, %s idle | portal CPU s | PostgreSQL CPU s |\n|---|---|---|\n", streams, idle)
		fmt.Printf("| none (baseline) | %.2f | %.2f |\n| %d streams | %.2f | %.2f |\n", base.portal, base.pg, streams, busy.portal, busy.pg)
		fmt.Printf("\nThe client process holding the streams used %.2f CPU s in all (connect, %s idle, close).\n", clientCPU, idle)
		fmt.Printf("commit → event over %d commits: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n\n", len(lat),
			ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]))
		_ = ctx
	}
}

// TestLiveStreamClient is the benchmark's client process; it does nothing in a normal run.
func TestLiveStreamClient(t *testing.T) {
	url := os.Getenv("LIVE_CLIENT_URL")
	if url == "" {
		t.Skip("the client process of BenchmarkLiveUpdates")
	}
	n, _ := strconv.Atoi(os.Getenv("LIVE_CLIENT_STREAMS"))
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	hc := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Cookie", os.Getenv("LIVE_CLIENT_COOKIE"))
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %v %v", err, resp)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
	cancel()
	wg.Wait()
}

type cpu struct{ portal, pg float64 }

// measure sleeps d and returns the CPU seconds spent meanwhile.
func measure(b *testing.B, pg int, d time.Duration) cpu {
	p0, g0 := cpuOf(b, os.Getpid()), pgCPU(b, pg)
	time.Sleep(d)
	return cpu{portal: cpuOf(b, os.Getpid()) - p0, pg: pgCPU(b, pg) - g0}
}

// eventLatencies commits n notifications of the client's user and times each to its event.
func eventLatencies(b *testing.B, env *apptest.Env, c *http.Client, n int) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/events", nil)
	sc := *c
	sc.Timeout = 0
	resp, err := sc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("stream: %v", err)
	}
	defer resp.Body.Close()
	got := make(chan time.Time, 16)
	go func() {
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "data: bell\n" {
				got <- time.Now()
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // subscribed
	id := env.App.Store.Ent.User.Query().Where(user.Username("alice")).OnlyX(ctx).ID
	db := env.App.Store.SQL
	var out []time.Duration
	for range n {
		start := time.Now()
		if _, err := db.ExecContext(ctx, `INSERT INTO notifications (id, recipient_id, type, title, created_at)
			VALUES ($1, $2, 'REQUEST_APPROVED', 'bench', now())`, uuid.New(), id); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-got:
			out = append(out, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatal("no event within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func cookie(b *testing.B, env *apptest.Env, c *http.Client) string {
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/", nil)
	var parts []string
	for _, ck := range c.Jar.Cookies(req.URL) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	if len(parts) == 0 {
		b.Fatal("no session cookie")
	}
	return strings.Join(parts, "; ")
}

func waitLine(b *testing.B, r io.Reader, want string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == want {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return
		}
	}
	b.Fatalf("the client process ended before %q", want)
}

// postmaster is the pid of the PostgreSQL server the app uses (the parent of a backend).
func postmaster(b *testing.B, env *apptest.Env) int {
	var backend int
	if err := env.App.Store.SQL.QueryRow("SELECT pg_backend_pid()").Scan(&backend); err != nil {
		b.Fatal(err)
	}
	return ppid(b, backend)
}

func ppid(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("PostgreSQL must run on this machine for its CPU to be read: %v", err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	p, _ := strconv.Atoi(f[1])
	return p
}

// stat returns utime+stime and cutime+cstime of pid in seconds.
func stat(pid int) (own, children float64, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	// After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	v := func(i int) float64 { x, _ := strconv.ParseFloat(f[i], 64); return x / 100 } // CLK_TCK 100
	return v(11) + v(12), v(13) + v(14), true
}

func cpuOf(b *testing.B, pid int) float64 {
	own, _, ok := stat(pid)
	if !ok {
		b.Fatalf("no /proc/%d/stat", pid)
	}
	return own
}

// pgCPU is the postmaster's CPU, that of its exited children, and that of the live ones.
func pgCPU(b *testing.B, pm int) float64 {
	own, reaped, _ := stat(pm)
	total := own + reaped
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		if p, _ := strconv.Atoi(f[1]); p == pm {
			if o, _, ok := stat(pid); ok {
				total += o
			}
		}
	}
	return total
}
