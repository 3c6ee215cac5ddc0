package testcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"kubevirt.io/client-go/kubecli"
)

// Environment variables through which `shepherd-testcluster exec` hands a running test cluster
// to the tests it runs.
const (
	EnvKubeconfig        = "SHEPHERD_TEST_KUBECONFIG"         // admin kubeconfig path
	EnvKubeconfigLimited = "SHEPHERD_TEST_KUBECONFIG_LIMITED" // LimitedUser's kubeconfig path
	EnvKubectl           = "SHEPHERD_TEST_KUBECTL"            // kubectl matching the server
	// EnvRequire turns "no test cluster" from a skip into a failure (CI sets it).
	EnvRequire = "SHEPHERD_REQUIRE_KUBE"
)

// Exports returns the variables that describe e, as "NAME=value" for a child's environment.
func (e *Env) Exports() []string {
	return []string{
		EnvKubeconfig + "=" + e.AdminKubeconfigPath,
		EnvKubeconfigLimited + "=" + e.LimitedKubeconfigPath,
		EnvKubectl + "=" + e.KubectlPath,
	}
}

// Shared is a test cluster started by someone else (shepherd-testcluster exec, or RunTests)
// and shared by every test package of a run: tests must work in namespaces of their own.
type Shared struct {
	KubeconfigPath        string
	LimitedKubeconfigPath string
	KubectlPath           string
}

// FromEnv returns the shared test cluster, or skips the test when there is none (fails
// instead when SHEPHERD_REQUIRE_KUBE is set).
func FromEnv(t testing.TB) *Shared {
	t.Helper()
	s := &Shared{KubeconfigPath: os.Getenv(EnvKubeconfig), LimitedKubeconfigPath: os.Getenv(EnvKubeconfigLimited),
		KubectlPath: os.Getenv(EnvKubectl)}
	if s.KubeconfigPath == "" {
		msg := "no test cluster: " + EnvKubeconfig + " is not set; run the tests under " +
			"`go run ./cmd/shepherd-testcluster exec --dir .data/testcluster -- go test ./...`"
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(msg + " (" + EnvRequire + " is set)")
		}
		t.Skip(msg)
	}
	return s
}

// AdminConfig is a client config for the cluster admin with QPS/Burst raised.
func (s *Shared) AdminConfig(t testing.TB) *rest.Config {
	t.Helper()
	return loadConfig(t, s.KubeconfigPath)
}

// LimitedConfig is the same for LimitedUser (may only read namespaces).
func (s *Shared) LimitedConfig(t testing.TB) *rest.Config {
	t.Helper()
	if s.LimitedKubeconfigPath == "" {
		t.Fatal("testcluster: " + EnvKubeconfigLimited + " is not set")
	}
	return loadConfig(t, s.LimitedKubeconfigPath)
}

func loadConfig(t testing.TB, path string) *rest.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	cfg, err := restConfig(b)
	if err != nil {
		t.Fatalf("testcluster: %s: %v", path, err)
	}
	return cfg
}

// KubeVirt returns a kubecli client for cfg.
func KubeVirt(t testing.TB, cfg *rest.Config) kubecli.KubevirtClient {
	t.Helper()
	kv, err := kubecli.GetKubevirtClientFromRESTConfig(cfg)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return kv
}

var nsCounter atomic.Int64

// Namespace creates a namespace unique to this test run and removes it at cleanup: VMs first
// (the stand-in controller then stops their VMIs), then the namespace itself, finalized here
// because no namespace controller runs in the test cluster.
func (s *Shared) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	kv := KubeVirt(t, s.AdminConfig(t))
	name := fmt.Sprintf("%s-%d-%d-%d", strings.ToLower(prefix), os.Getpid()%100000, time.Now().UnixMilli()%100000, nsCounter.Add(1))
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"testcluster.kubevirt-shepherd.io/test": "true"}}}
	if _, err := kv.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testcluster: creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := deleteNamespace(ctx, kv, name); err != nil {
			t.Logf("testcluster: cleaning up namespace %s: %v", name, err)
		}
	})
	return name
}

func deleteNamespace(ctx context.Context, kv kubecli.KubevirtClient, name string) error {
	api := kv.GeneratedKubeVirtClient().KubevirtV1()
	if err := api.VirtualMachines(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		l, err := api.VirtualMachineInstances(name).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("VMIs did not go away: %w", err)
	}
	if err := kv.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	ns, err := kv.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	ns.Spec.Finalizers = nil
	_, err = kv.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	return err
}

// Kubectl runs kubectl against the cluster as admin and returns its combined output.
func (s *Shared) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if s.KubectlPath == "" {
		t.Fatal("testcluster: " + EnvKubectl + " is not set")
	}
	out, err := exec.CommandContext(t.Context(), s.KubectlPath, append([]string{"--kubeconfig", s.KubeconfigPath}, args...)...).CombinedOutput()
	return string(out), err
}

// RunTests is for a package's TestMain: when no shared test cluster is exported but the
// binaries are cached, it starts a private one for the package (opts.Dir defaults to a
// temporary directory), exports it for FromEnv, runs the tests and stops it. Without binaries
// it just runs the tests, which then skip.
func RunTests(m *testing.M, opts Options) int {
	if os.Getenv(EnvKubeconfig) != "" || !BinariesPresent(orDefault(opts.BinDir)) {
		return m.Run()
	}
	if _, err := findEtcd(opts.EtcdPath); err != nil {
		return m.Run()
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "shepherd-testcluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		opts.Dir = dir
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	env, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		return 1
	}
	defer env.Stop()
	fmt.Fprintf(os.Stderr, "testcluster: private test cluster up, kube-apiserver ready in %s\n", env.APIServerStartup.Round(time.Millisecond))
	for _, kv := range env.Exports() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	return m.Run()
}

func orDefault(binDir string) string {
	if binDir == "" {
		return DefaultBinDir()
	}
	return binDir
}

// Secrets returns the credentials in the test cluster's kubeconfigs (tokens, client
// keys, in raw and base64 form), for tests asserting that none of them reaches a
// log, a page or an audit row.
func (s *Shared) Secrets(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, path := range []string{s.KubeconfigPath, s.LimitedKubeconfigPath} {
		if path == "" {
			continue
		}
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range cfg.AuthInfos {
			if u.Token != "" {
				out = append(out, u.Token)
			}
			if len(u.ClientKeyData) > 0 {
				out = append(out, base64.StdEncoding.EncodeToString(u.ClientKeyData), string(u.ClientKeyData))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("testcluster: the kubeconfigs carry no credentials to look for")
	}
	return out
}
