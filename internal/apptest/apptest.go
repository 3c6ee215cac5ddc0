// Package apptest starts a whole Shepherd (dev mode, its own database, the development
// OIDC issuer) on a loopback port for HTTP and browser tests.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/app"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// Env is a running portal.
type Env struct {
	URL    string
	App    *app.App
	Logs   *LogBuffer
	cancel context.CancelFunc
}

// LogBuffer collects the app's log lines so tests can assert that bad input was logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Production turns dev mode off: no development issuer, no demo data.
func Production(c *config.Config) { c.DevMode = false }

// Start runs the portal until the test ends. mutate may adjust the configuration.
func Start(t testing.TB, mutate ...func(*config.Config)) *Env {
	t.Helper()
	dsn := testdb.NewDSN(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "DATABASE_URL":
			return dsn
		case "SHEPHERD_ADDR":
			return addr
		case "SHEPHERD_DEV_MODE":
			return "true"
		case "SHEPHERD_METRICS_ADDR":
			return "127.0.0.1:0"
		case "SHEPHERD_DB_MAX_CONNS":
			return "12"
		case "SHEPHERD_SIM_STEP_DELAY": // long enough to see Starting, short enough for tests
			return "200ms"
		case "SHEPHERD_JOB_RETRY_BASE":
			return "100ms"
		case "SHEPHERD_JOB_POLL_INTERVAL":
			return "100ms"
		case "SHEPHERD_K8S_OPERATION_TIMEOUT":
			return "10s"
		case "SHEPHERD_VM_READY_TIMEOUT":
			return "20s"
		case "SHEPHERD_PROVISIONING_WORKERS", "SHEPHERD_POWER_WORKERS":
			return "2"
		case "SHEPHERD_RIVER_MAX_WORKERS":
			return "2"
		// Tests post far faster than people and submit batches back to back; the rate
		// limits' own tests set them (mutate).
		case "SHEPHERD_RATE_LIMIT_GLOBAL_PER_MINUTE", "SHEPHERD_RATE_LIMIT_USER_PER_MINUTE":
			return "0"
		case "SHEPHERD_RATE_LIMIT_BATCH_COOLDOWN":
			return "0s"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(cfg)
	}
	logs := &LogBuffer{}
	var w io.Writer = logs
	if os.Getenv("SHEPHERD_TEST_VERBOSE") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runner.New(ctx, logger).Go("app", func(ctx context.Context) error {
		err := a.Run(ctx, ln)
		done <- err
		return err
	})
	env := &Env{URL: "http://" + addr, App: a, Logs: logs, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("app did not stop within 30s")
		}
	})
	waitReady(t, env.URL)
	return env
}

func waitReady(t testing.TB, base string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("portal did not become ready")
}

// Client returns an HTTP client with its own cookie jar that does not follow redirects.
func (e *Env) Client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Get fetches path and returns status, body and the response.
func (e *Env) Get(t testing.TB, c *http.Client, path string) (int, string, *http.Response) {
	t.Helper()
	return e.Do(t, c, http.MethodGet, path, nil)
}

// PostForm posts form values to path.
func (e *Env) PostForm(t testing.TB, c *http.Client, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	return e.Do(t, c, http.MethodPost, path, form)
}

// Do sends one request.
func (e *Env) Do(t testing.TB, c *http.Client, method, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	target := path
	if strings.HasPrefix(path, "/") {
		target = e.URL + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}
