package console

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The benchmark's load — backends and measuring clients — runs in child processes (this
// test binary again, in TestConsoleBenchHelper; one for the backends, one for the
// clients), so that the process under test holds only what Shepherd would: Pipe and its
// connections. Every relay then runs on its own, like websockify does, its CPU time can
// be read from getrusage, and the idle-memory figure is Shepherd's side alone.

const helperEnv = "SHEPHERD_CONSOLE_BENCH_HELPER"

// TestConsoleBenchHelper is the child process: it reads commands on stdin and answers
// "ok ..." or "err ..." on stdout.
//
//	open ID tcp|ws TARGET    connect a measuring client
//	drain ID BYTES           receive BYTES
//	rtt ID N                 N round trips of 32 bytes; answers p50 and p99 in ns
//	close ID
//	idle URL N               open N idle websocket sessions (each gets a 128 KiB burst)
//	closeidle
func TestConsoleBenchHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("the load generator of BenchmarkConsole, run in a child process")
	}
	stream, echo, idle := startBackend(t, "stream"), startBackend(t, "echo"), startBackend(t, "idle")
	defer stream.stop()
	defer echo.stop()
	defer idle.stop()
	fmt.Printf("ready %s %s %s\n", stream.addr(), echo.addr(), idle.addr())

	clients := map[string]benchClient{}
	var idles []benchClient
	defer func() {
		for _, c := range append(idles, slices.Collect(mapsValues(clients))...) {
			_ = c.Close()
		}
	}()
	buf, msg := make([]byte, benchChunk), randomBytes(8, 32)
	wsDialer := &websocket.Dialer{Subprotocols: []string{Subprotocol}}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		reply, err := func() (string, error) {
			switch {
			case len(f) == 4 && f[0] == "open":
				c, err := dialClient(f[2], f[3], wsDialer)
				if err == nil {
					clients[f[1]] = c
				}
				return "", err
			case len(f) == 3 && f[0] == "drain":
				n, _ := strconv.ParseInt(f[2], 10, 64)
				return "", clients[f[1]].drain(n, buf)
			case len(f) == 3 && f[0] == "rtt":
				n, _ := strconv.Atoi(f[2])
				rtt := make([]time.Duration, n)
				for i := range rtt {
					start := time.Now()
					if err := clients[f[1]].roundTrip(msg, buf); err != nil {
						return "", err
					}
					rtt[i] = time.Since(start)
				}
				slices.Sort(rtt)
				return fmt.Sprint(int64(rtt[n/2]), int64(rtt[n*99/100])), nil
			case len(f) == 2 && f[0] == "close":
				err := clients[f[1]].Close()
				delete(clients, f[1])
				return "", err
			case len(f) == 3 && f[0] == "idle":
				n, _ := strconv.Atoi(f[2])
				small := &websocket.Dialer{Subprotocols: []string{Subprotocol}, ReadBufferSize: 1024, WriteBufferSize: 512}
				for range n {
					c, err := dialClient("ws", f[1], small)
					if err != nil {
						return "", err
					}
					idles = append(idles, c)
					if err := c.drain(128<<10+1, buf); err != nil {
						return "", err
					}
				}
				return "", nil
			case len(f) == 1 && f[0] == "closeidle":
				for _, c := range idles {
					_ = c.Close()
				}
				idles = nil
				return "", nil
			}
			return "", fmt.Errorf("bad command %q", f)
		}()
		if err != nil {
			fmt.Printf("err %v\n", err)
		} else {
			fmt.Printf("ok %s\n", reply)
		}
	}
}

func mapsValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// loadGen is the benchmark's handle on the child process.
type loadGen struct {
	cmd                *exec.Cmd
	in                 io.WriteCloser
	out                *bufio.Scanner
	stream, echo, idle string // backend addresses
}

func startLoadGen(b *testing.B) *loadGen {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestConsoleBenchHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lg := &loadGen{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	f := lg.read(b)
	if len(f) != 4 || f[0] != "ready" {
		b.Fatalf("load generator: %q", f)
	}
	lg.stream, lg.echo, lg.idle = f[1], f[2], f[3]
	return lg
}

func (lg *loadGen) read(b *testing.B) []string {
	if !lg.out.Scan() {
		b.Fatalf("load generator exited: %v", lg.out.Err())
	}
	return strings.Fields(lg.out.Text())
}

// call sends one command and returns the answer's fields after "ok".
func (lg *loadGen) call(b *testing.B, format string, args ...any) []string {
	if _, err := fmt.Fprintf(lg.in, format+"\n", args...); err != nil {
		b.Fatal(err)
	}
	f := lg.read(b)
	if len(f) == 0 || f[0] != "ok" {
		b.Fatalf("%s: %q", fmt.Sprintf(format, args...), f)
	}
	return f[1:]
}

func (lg *loadGen) stop() {
	_ = lg.in.Close()
	_ = lg.cmd.Wait()
}

// cpuTime is the CPU (user+system) used so far by this process, or, for pid > 0, by
// every process in pid's process group (websockify forks one child per connection).
func cpuTime(pgid int) time.Duration {
	if pgid == 0 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var ticks int64
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// After "pid (comm) ": state ppid pgrp ... utime stime are fields 1, 2, 3, ..., 12, 13.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 14 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ is 100 on Linux
}
