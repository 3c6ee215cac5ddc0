// Package faults holds fault-injection tests of the whole process: killed mid-job,
// PostgreSQL restarted under the workers. They run Shepherd for real — as a child
// process (this test binary re-executed) when the test must SIGKILL it.
package faults

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/app"
	"kv-shepherd.io/shepherd/internal/config"
)

const childEnv = "SHEPHERD_FAULTS_CHILD"

// TestMain turns the test binary into a Shepherd server when re-executed as a child.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild())
	}
	os.Exit(m.Run())
}

func serveChild() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		logger.Error("config", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	if err := a.Run(ctx, nil); err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	return 0
}

// child is a Shepherd process started by a test.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs string
}

// startChild runs Shepherd with env (KEY=value) on addr and waits until it is ready.
func startChild(t *testing.T, name, addr string, env []string) *child {
	t.Helper()
	c := launchChild(t, name, addr, env)
	c.waitReady(t, name)
	return c
}

// launchChild runs Shepherd with env (KEY=value) on addr without waiting for it.
func launchChild(t *testing.T, name, addr string, env []string) *child {
	t.Helper()
	logs := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=1", "SHEPHERD_ADDR=" + addr, "SHEPHERD_METRICS_ADDR=127.0.0.1:0"}, env...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s log tail:\n%s", name, c.tail(60))
		}
	})
	return c
}

// waitReady waits until the child answers /health/ready with 200.
func (c *child) waitReady(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.url + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready:\n%s", name, c.tail(60))
}

// kill sends SIGKILL: no shutdown code runs, like a node dying.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// stop asks for a graceful shutdown and waits for it.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child exited with %v", err)
	}
}

func (c *child) tail(n int) string {
	b, _ := os.ReadFile(c.logs)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
