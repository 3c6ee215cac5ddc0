package loadtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes is CPU time used so far by this process (the portal and the benchmark's
// client) and by PostgreSQL's processes. Per request, they say what a page costs
// whatever else runs on the machine: req/s on a shared machine is noisy, CPU time much
// less so.
type cpuTimes struct {
	Process  time.Duration
	Postgres map[string]int64 // clock ticks by process id
}

func readCPU(pgPort string) cpuTimes {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpuTimes{Process: self, Postgres: postgresTicks(pgPort)}
}

// postgresSince is PostgreSQL's CPU time since before: per process, so that one that
// ended in between (an autovacuum worker) does not subtract its whole life.
func (c cpuTimes) postgresSince(before cpuTimes) time.Duration {
	var ticks int64
	for pid, t := range c.Postgres {
		ticks += max(t-before.Postgres[pid], 0)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ticks) * time.Second / clockTicks
}

// postgresTicks reads user and system time of the benchmark's PostgreSQL: the postmaster
// listening on port (pg-exec starts it) and its children. Other servers on the machine
// are left out. Linux only; empty elsewhere.
func postgresTicks(port string) map[string]int64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	type proc struct {
		ppid  string
		ticks int64
	}
	procs := map[string]proc{}
	postmaster := ""
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		fields := strings.Fields(s[end+1:])
		// After the name: state(0) ppid(1) ... utime(11) stime(12), in clock ticks.
		if len(fields) < 13 {
			continue
		}
		pid := filepath.Base(filepath.Dir(p))
		u, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		procs[pid] = proc{ppid: fields[1], ticks: u + st}
		if cmd, err := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline")); err == nil &&
			strings.Contains(string(cmd), "\x00-p\x00"+port+"\x00") {
			postmaster = pid
		}
	}
	out := map[string]int64{}
	for pid, pr := range procs {
		if postmaster != "" && (pid == postmaster || pr.ppid == postmaster) {
			out[pid] = pr.ticks
		}
	}
	return out
}
