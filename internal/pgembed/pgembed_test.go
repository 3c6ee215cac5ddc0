package pgembed

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dataDir returns a fresh data root inside t.TempDir, whose directories are private
// (0700): as root, Start must let the postgres user through them by itself.
func dataDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "pg")
}

// A checkout in a private directory (mktemp -d) works as root: Start grants the
// postgres user passage (o+x) through our own private directories, never listing.
func TestStartInsidePrivateDirectories(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	dir := dataDir(t)
	parents := []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))}
	for _, d := range parents {
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	start(t, Options{Dir: dir, Port: freePort(t), Fast: true, Logger: testLogger(t)})
	for _, d := range parents {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := st.Mode().Perm(); mode != 0o701 {
			t.Errorf("%s: mode %v, want 0701 (search only for others)", d, mode)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start starts a server and makes sure it is stopped before the test's
// temporary directory is removed.
func start(t *testing.T, opts Options) *Instance {
	t.Helper()
	inst, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return inst
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestLifecycle(t *testing.T) {
	opts := Options{Dir: dataDir(t), Port: freePort(t), Fast: true, Logger: testLogger(t)}
	ctx := t.Context()

	first := start(t, opts)
	if !first.Started() {
		t.Fatal("first Start: Started() = false")
	}
	for range 2 {
		if err := first.EnsureDatabase(ctx, "app"); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, first.DSN("app"))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// A second Start on the same directory reuses the server; stopping the
	// reusing instance leaves the server alone.
	second := start(t, opts)
	if second.Started() {
		t.Fatal("second Start: Started() = true, want reuse")
	}
	if second.DSN("app") != first.DSN("app") {
		t.Fatalf("DSN %q, want %q", second.DSN("app"), first.DSN("app"))
	}
	if err := second.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	connect(t, second.DSN("app")).Close(ctx)

	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, first.DSN("app")); err == nil {
		conn.Close(ctx)
		t.Fatal("server still accepts connections after Stop")
	}

	third := start(t, opts)
	if !third.Started() {
		t.Fatal("third Start: Started() = false")
	}
	var x int
	if err := connect(t, third.DSN("app")).QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("data after restart: x = %d, %v", x, err)
	}
}

func TestStartAfterKill(t *testing.T) {
	opts := Options{Dir: dataDir(t), Port: freePort(t), Fast: true, Logger: testLogger(t)}
	inst := start(t, opts)

	pid, err := postmasterPID(opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The postmaster is not our child (pg_ctl started it), so it is reaped
	// by init; wait until it is gone. postmaster.pid stays behind.
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still alive", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "data", "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}

	again := start(t, opts)
	if !again.Started() {
		t.Fatal("Start after SIGKILL reused a dead server")
	}
	if err := again.EnsureDatabase(t.Context(), "after_kill"); err != nil {
		t.Fatal(err)
	}
	inst.started = false // its server is dead; the cleanup must not stop the new one twice
}

// A server left running by a run that ended abruptly (its owner process is gone) is
// adopted: this run stops it when it ends. One whose owner still runs is only shared.
func TestAdoptsServerLeftByACrashedRun(t *testing.T) {
	opts := Options{Dir: dataDir(t), Port: freePort(t), Fast: true, Logger: testLogger(t)}
	ctx := t.Context()
	first := start(t, opts)

	// Another live process owns it: shared, left running.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	if err := os.WriteFile(first.ownerFile(), []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	shared := start(t, opts)
	if shared.Started() {
		t.Fatal("a server whose owner runs was adopted")
	}
	if err := shared.Stop(ctx); err != nil || !shared.Alive(ctx) {
		t.Fatalf("stopping the sharer: %v, alive %v", err, shared.Alive(ctx))
	}

	// Its owner is gone (a crashed `make run`): adopted, and stopped at the end.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.ownerFile(), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	first.started = false // the "crashed" run: it will never stop the server
	adopter := start(t, opts)
	if !adopter.Started() {
		t.Fatal("a server left by a dead owner was not adopted")
	}
	if b, _ := os.ReadFile(adopter.ownerFile()); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("owner file says %q", b)
	}
	if err := adopter.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if adopter.Alive(ctx) {
		t.Error("the adopted server still runs after Stop")
	}
	if _, err := os.Stat(adopter.ownerFile()); !os.IsNotExist(err) {
		t.Errorf("owner file left after Stop: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	_, err = Start(t.Context(), Options{Dir: dataDir(t), Port: port, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Start on a busy port: err = %v", err)
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("%s lacks server binaries", dir)
	}
	if got := compareVersions("9.6", "15"); got >= 0 {
		t.Errorf("compareVersions(9.6, 15) = %d", got)
	}
}

func TestExec(t *testing.T) {
	opts := Options{Dir: dataDir(t), Port: freePort(t), Fast: true, Logger: testLogger(t)}
	want := "postgres://postgres@127.0.0.1:" + strconv.Itoa(opts.Port) + "/postgres?sslmode=disable"
	script := `test "$SHEPHERD_TEST_DATABASE_URL" = "` + want + `" || exit 1; exit 3`
	code, err := Exec(t.Context(), opts, []string{"sh", "-c", script})
	if err != nil || code != 3 {
		t.Fatalf("Exec = %d, %v; want 3, nil", code, err)
	}
	if _, err := postmasterPID(opts.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("server still running after Exec (postmaster.pid: %v)", err)
	}

	// With a server already running, Exec reuses it and leaves it running.
	inst := start(t, opts)
	if code, err := Exec(t.Context(), opts, []string{"true"}); err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	if err := inst.EnsureDatabase(t.Context(), "still_up"); err != nil {
		t.Fatalf("server gone after Exec reused it: %v", err)
	}
}

func TestExecForwardsSignal(t *testing.T) {
	opts := Options{Dir: dataDir(t), Port: freePort(t), Fast: true, Logger: testLogger(t)}
	ready := filepath.Join(t.TempDir(), "ready")
	result := make(chan int, 1)
	go func() {
		code, err := Exec(t.Context(), opts, []string{"sh", "-c", `touch "$0"; exec sleep 60`, ready})
		if err != nil {
			t.Error(err)
		}
		result <- code
	}()
	for deadline := time.Now().Add(60 * time.Second); !fileExists(ready); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("child did not start")
		}
	}
	// Exec has registered for SIGTERM before starting the child, so this
	// does not kill the test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-result:
		if code != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit code %d, want %d", code, 128+int(syscall.SIGTERM))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return after SIGTERM")
	}
	if _, err := postmasterPID(opts.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("server still running after interrupted Exec (postmaster.pid: %v)", err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func postmasterPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}
