package console

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkConsole compares, in one run on one machine, a direct TCP connection to the
// backend, the same backend through Pipe (websocket client → httptest server doing
// NewUpgrader+Pipe → TCP), and through Debian's websockify; plus the memory an idle
// Pipe session costs. Backends and clients run in two child processes
// (benchhelper_test.go), so each relay runs alone in its process and its CPU time per
// MB is reported too, which stays comparable when other work shares the machine.
// Run it with
//
//	go test -run '^$' -bench Console -benchtime 3s ./internal/console/
//
// It ends with a README-ready summary.
func BenchmarkConsole(b *testing.B) {
	// Backends and clients live in two different processes, as the VM and the
	// browser do: otherwise "direct" would be a same-process hop, where the Go
	// scheduler's spinning threads hide the cost of waking a sleeping one.
	be, lg := startLoadGen(b), startLoadGen(b)
	defer be.stop()
	defer lg.stop()
	ps := startPipeServer(b, map[string]string{"stream": be.stream, "echo": be.echo, "idle": be.idle})
	defer ps.stop()

	// websockify is started once per backend for the whole benchmark, not per b.N round.
	wsify := map[string]*websockify{}
	var wsifyErr error
	for _, addr := range []string{be.stream, be.echo} {
		w, err := startWebsockify(addr)
		if err != nil {
			wsifyErr = err
			break
		}
		defer w.stop()
		wsify[addr] = w
	}
	// target says how the load generator connects for a path, and whose CPU to count
	// (-1: no relay, 0: this process, else websockify's process group).
	target := func(b *testing.B, path, backend, addr string) (kind, url string, pgid int) {
		switch path {
		case "direct":
			return "tcp", addr, -1
		case "pipe":
			return "ws", ps.url(backend), 0
		}
		if wsifyErr != nil {
			b.Skip("skipping the websockify variant: ", wsifyErr)
		}
		return "ws", wsify[addr].url, wsify[addr].cmd.Process.Pid
	}
	paths := []string{"direct", "pipe", "websockify"}
	sum := map[string]*summaryRow{}
	for _, p := range paths {
		sum[p] = &summaryRow{}
	}
	id := 0

	for _, p := range paths {
		b.Run("throughput/"+p, func(b *testing.B) {
			kind, url, pgid := target(b, p, "stream", be.stream)
			id++
			lg.call(b, "open %d %s %s", id, kind, url)
			defer lg.call(b, "close %d", id)
			lg.call(b, "drain %d %d", id, 8<<20) // warm up
			b.SetBytes(benchChunk)
			b.ReportAllocs()
			cpu0 := relayCPU(pgid)
			b.ResetTimer()
			lg.call(b, "drain %d %d", id, int64(b.N)*benchChunk)
			b.StopTimer()
			mb := float64(b.N) * benchChunk / 1e6
			sum[p].mbps = mb / b.Elapsed().Seconds()
			if pgid >= 0 {
				sum[p].cpuPerMB = float64((relayCPU(pgid) - cpu0).Microseconds()) / mb
				b.ReportMetric(sum[p].cpuPerMB, "relay-cpu-µs/MB")
			}
		})
	}
	for _, p := range paths {
		b.Run("latency/"+p, func(b *testing.B) {
			kind, url, _ := target(b, p, "echo", be.echo)
			id++
			lg.call(b, "open %d %s %s", id, kind, url)
			defer lg.call(b, "close %d", id)
			lg.call(b, "rtt %d 200", id) // warm up
			b.ReportAllocs()
			b.ResetTimer()
			f := lg.call(b, "rtt %d %d", id, b.N)
			b.StopTimer()
			p50, _ := strconv.ParseInt(f[0], 10, 64)
			p99, _ := strconv.ParseInt(f[1], 10, 64)
			sum[p].p50, sum[p].p99 = float64(p50)/1e3, float64(p99)/1e3
			b.ReportMetric(sum[p].p50, "p50-µs")
			b.ReportMetric(sum[p].p99, "p99-µs")
		})
	}
	idle := map[string]*idleResult{}
	for _, mode := range []string{"in-handler", "in-runner"} {
		b.Run("idle-memory/pipe-"+mode, func(b *testing.B) {
			// One measurement of 1,000 sessions is the result; the framework calls this
			// again with growing b.N, which must not multiply thousands of sessions.
			if idle[mode] == nil {
				query := "idle"
				if mode == "in-runner" {
					query += "&detach"
				}
				idle[mode] = measureIdle(b, lg, ps, query, 1000)
			}
			b.ReportMetric(float64(idle[mode].open.Nanoseconds()), "ns/op")
			b.ReportMetric(idle[mode].bytes, "B/session")
			b.ReportMetric(idle[mode].goroutines, "goroutines/session")
		})
	}

	// Printed, not b.Log'ed: a parent benchmark's log only shows with -v, cut to 10 lines.
	fmt.Print(summary(sum, paths, idle, wsifyErr))
}

func relayCPU(pgid int) time.Duration {
	if pgid < 0 {
		return 0
	}
	return cpuTime(pgid)
}

type summaryRow struct{ mbps, cpuPerMB, p50, p99 float64 }

type idleResult struct {
	bytes, goroutines float64       // per session
	open              time.Duration // mean time to open one session
}

// measureIdle has the load generator open n sessions through Pipe, each carrying a
// 128 KiB burst first, and measures this process's (HeapInuse+StackInuse) growth and
// goroutines per session once they are idle: Shepherd's side only (websocket, Pipe and
// the TCP connection to the backend).
func measureIdle(b *testing.B, lg *loadGen, ps *pipeServer, query string, n int) *idleResult {
	settle := func() (uint64, int) {
		var m runtime.MemStats
		for range 3 { // also empties sync.Pools (they survive one GC in the victim cache)
			runtime.GC()
		}
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
	}
	for ps.active.Load() != 0 { // sessions of an earlier run are still closing
		time.Sleep(10 * time.Millisecond)
	}
	before, g0 := settle()
	start := time.Now()
	lg.call(b, "idle %s %d", ps.url(query), n)
	defer lg.call(b, "closeidle")
	open := time.Since(start) / time.Duration(n)
	for ps.active.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let every copy loop park in its read
	after, g1 := settle()
	return &idleResult{
		bytes:      float64(int64(after)-int64(before)) / float64(n),
		goroutines: float64(g1-g0) / float64(n),
		open:       open,
	}
}

func summary(sum map[string]*summaryRow, paths []string, idle map[string]*idleResult, wsifyErr error) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nConsole transport on loopback (%d CPUs, %s; backend, relay and client in three processes):\n\n",
		runtime.NumCPU(), runtime.Version())
	sb.WriteString("| path | throughput (64 KiB writes) | relay CPU per MB | round trip p50 (32 B) | p99 |\n|---|---|---|---|---|\n")
	for _, p := range paths {
		r := sum[p]
		if p == "websockify" && wsifyErr != nil {
			fmt.Fprintf(&sb, "| websockify | skipped: %v | | | |\n", wsifyErr)
			continue
		}
		cpu := "–"
		if r.cpuPerMB > 0 {
			cpu = fmt.Sprintf("%.0f µs", r.cpuPerMB)
		}
		fmt.Fprintf(&sb, "| %s | %.0f MB/s | %s | %.0f µs | %.0f µs |\n", p, r.mbps, cpu, r.p50, r.p99)
	}
	sb.WriteString("\n")
	d, pp, w := sum["direct"], sum["pipe"], sum["websockify"]
	if d.mbps > 0 && pp.mbps > 0 {
		fmt.Fprintf(&sb, "- Pipe throughput: %.0f%% of direct TCP", 100*pp.mbps/d.mbps)
		if w.mbps > 0 {
			fmt.Fprintf(&sb, ", %.2f× websockify's", pp.mbps/w.mbps)
		}
		if w.cpuPerMB > 0 && pp.cpuPerMB > 0 { // CPU ticks are 10 ms: needs -benchtime of seconds
			fmt.Fprintf(&sb, ", at %.2f× its CPU per MB", pp.cpuPerMB/w.cpuPerMB)
		}
		sb.WriteString(".\n")
	}
	if d.p50 > 0 && pp.p50 > 0 {
		fmt.Fprintf(&sb, "- Added p50 latency over direct TCP: Pipe %+.0f µs", pp.p50-d.p50)
		if w.p50 > 0 {
			fmt.Fprintf(&sb, ", websockify %+.0f µs", w.p50-d.p50)
		}
		sb.WriteString(".\n")
	}
	for _, m := range [][2]string{{"in-handler", "inside the HTTP handler"}, {"in-runner", "in a runner task"}} {
		mode, where := m[0], m[1]
		if r := idle[mode]; r != nil {
			fmt.Fprintf(&sb, "- Idle session, Pipe run %s: %.1f KiB (heap + stacks, Shepherd's side), %.0f goroutines.\n",
				where, r.bytes/1024, r.goroutines)
		}
	}
	return sb.String()
}
