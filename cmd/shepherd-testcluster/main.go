// Command shepherd-testcluster runs Shepherd's test cluster: a real kube-apiserver on etcd with
// KubeVirt's CRDs and stand-ins for virt-controller and virt-api (see internal/testcluster).
// It is TEST INFRASTRUCTURE and deliberately a separate binary from cmd/shepherd.
//
//	shepherd-testcluster exec --dir .data/testcluster -- go test ./...
//	shepherd-testcluster up   --dir .data/testcluster
//
// exec runs the command with SHEPHERD_TEST_KUBECONFIG, SHEPHERD_TEST_KUBECONFIG_LIMITED and
// SHEPHERD_TEST_KUBECTL exported, stops the cluster afterwards and exits with the command's
// code. up keeps the cluster running until Ctrl-C.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"kv-shepherd.io/shepherd/internal/rfb"
	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

func main() { os.Exit(run(os.Args[1:])) }

const usage = `usage:
  shepherd-testcluster exec [flags] -- CMD [ARGS...]   start the test cluster, run CMD, stop
  shepherd-testcluster up   [flags]                    start the test cluster until Ctrl-C
flags:
  --dir D         state directory (certificates, kubeconfigs, logs, etcd data); default .data/testcluster
  --repo R        Shepherd checkout holding tools/kubetest/build.sh; default: found from the working directory
  --bin-dir B     use kube-apiserver and kubectl from B instead of building/caching them
  --start-delay T how long VMs take to start and stop (default 300ms)
  --verbose       debug logging
`

func run(args []string) int {
	if len(args) == 0 || (args[0] != "exec" && args[0] != "up") {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	mode := args[0]
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	dir := fs.String("dir", ".data/testcluster", "")
	repo := fs.String("repo", "", "")
	binDir := fs.String("bin-dir", "", "")
	delay := fs.Duration("start-delay", 300*time.Millisecond, "")
	verbose := fs.Bool("verbose", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	argv := fs.Args()
	if mode == "exec" && len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "shepherd-testcluster exec: no command given (exec --dir D -- CMD ARGS...)")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// Catch the signals for the whole run so that an interrupt during startup or shutdown
	// cannot kill us before the children are stopped. One context per signal tells exec which
	// one to forward to the command.
	intCtx, stopInt := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stopInt()
	sigCtx, stopTerm := signal.NotifyContext(intCtx, syscall.SIGTERM)
	defer stopTerm()

	bins, err := binaries(sigCtx, *repo, *binDir)
	if err != nil {
		logger.Error("kube binaries", "err", err)
		return 1
	}
	// Every VM's console is a pure-Go RFB server (the same one the simulator uses), reached
	// through the stand-in virt-api's vnc subresource. Deferred first, so it closes after
	// env.Stop has ended the websocket bridges.
	bootDelay := time.Duration(0) // tests want the login prompt at once
	if mode == "up" {
		bootDelay = rfb.DefaultBootDelay // people watch the boot log
	}
	cons := newConsoles(logger, bootDelay)
	defer cons.close()

	began := time.Now()
	env, err := testcluster.Start(sigCtx, testcluster.Options{Dir: *dir, BinDir: bins, Logger: logger, StartDelay: *delay,
		DialVNC: cons.dial})
	if err != nil {
		logger.Error("starting the test cluster", "err", err)
		return 1
	}
	defer env.Stop()
	fmt.Fprintf(os.Stderr, "shepherd-testcluster: kube-apiserver %s started in %s (whole cluster in %s)\n",
		testcluster.KubeVersion, env.APIServerStartup.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "shepherd-testcluster: see its VMs with: %s --kubeconfig %s get vm -A\n", env.KubectlPath, env.AdminKubeconfigPath)

	if mode == "up" {
		fmt.Printf("Test cluster is up (Ctrl-C stops it).\n  kubeconfig (admin):   %s\n  kubeconfig (limited): %s\n  kubectl:              %s\n  API server:           %s\nTry:\n  %s --kubeconfig %s get vm -A\n",
			env.AdminKubeconfigPath, env.LimitedKubeconfigPath, env.KubectlPath, env.APIServerURL, env.KubectlPath, env.AdminKubeconfigPath)
		for _, kv := range env.Exports() {
			fmt.Printf("  export %s\n", kv)
		}
		<-sigCtx.Done()
		fmt.Fprintln(os.Stderr, "shepherd-testcluster: stopping")
		return 0
	}
	return runCommand(sigCtx, intCtx, env, argv)
}

// runCommand runs argv with the cluster exported and returns its exit code; a command killed
// by a signal yields 128+signal, as a shell reports it.
func runCommand(sigCtx, intCtx context.Context, env *testcluster.Env, argv []string) int {
	if sigCtx.Err() != nil {
		return 130
	}
	cmd := exec.CommandContext(sigCtx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env.Exports()...)
	// Called when sigCtx ends: forward the signal we received instead of killing outright.
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		if intCtx.Err() != nil {
			sig = syscall.SIGINT
		}
		return cmd.Process.Signal(sig)
	}
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "shepherd-testcluster:", err)
		return 127
	}
	err := cmd.Wait()
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return st.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "shepherd-testcluster:", err)
	return 1
}

// binaries returns the directory holding kube-apiserver and kubectl: --bin-dir, else whatever
// tools/kubetest/build.sh prints (it builds on first use, ~11 minutes, and then answers at
// once), else the default cache when no checkout can be found.
func binaries(ctx context.Context, repo, binDir string) (string, error) {
	if binDir != "" {
		if !testcluster.BinariesPresent(binDir) {
			return "", fmt.Errorf("no kube-apiserver/kubectl in %s", binDir)
		}
		return binDir, nil
	}
	if repo == "" {
		repo = findRepo()
	}
	if repo == "" {
		if def := testcluster.DefaultBinDir(); testcluster.BinariesPresent(def) {
			return def, nil
		}
		return "", errors.New("tools/kubetest/build.sh not found above the working directory; pass --repo")
	}
	script := filepath.Join(repo, "tools", "kubetest", "build.sh")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if !testcluster.BinariesPresent(dir) {
		return "", fmt.Errorf("%s printed %q, which holds no kube-apiserver/kubectl", script, dir)
	}
	return dir, nil
}

// findRepo walks up from the working directory to the checkout containing the build script.
func findRepo() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "kubetest", "build.sh")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// consoles keeps one RFB server per VM, so the screen survives reconnects like a real VM's.
type consoles struct {
	run       *runner.Runner
	cancel    context.CancelFunc
	logger    *slog.Logger
	bootDelay time.Duration
	mu        sync.Mutex
	servers   map[string]*rfb.Server
}

func newConsoles(logger *slog.Logger, bootDelay time.Duration) *consoles {
	ctx, cancel := context.WithCancel(context.Background())
	return &consoles{run: runner.New(ctx, logger), cancel: cancel, logger: logger, bootDelay: bootDelay,
		servers: map[string]*rfb.Server{}}
}

// dial is the test cluster's DialVNC hook: one end of a pipe, the other served by the VM's
// RFB server.
func (c *consoles) dial(_ context.Context, namespace, name string) (net.Conn, error) {
	key := namespace + "/" + name
	c.mu.Lock()
	srv, ok := c.servers[key]
	if !ok {
		srv = rfb.NewServer(rfb.Options{Name: key, BootDelay: c.bootDelay, Logger: c.logger})
		c.servers[key] = srv
	}
	c.mu.Unlock()
	client, server := net.Pipe()
	c.run.Go("testcluster-console", func(ctx context.Context) error {
		if err := srv.ServeConn(ctx, server); err != nil && !errors.Is(err, rfb.ErrServerClosed) && ctx.Err() == nil {
			c.logger.Debug("console session ended", "vm", key, "err", err)
		}
		return nil
	})
	return client, nil
}

func (c *consoles) close() {
	c.mu.Lock()
	for _, s := range c.servers {
		s.Close()
	}
	c.mu.Unlock()
	c.cancel()
	c.run.Wait()
}
