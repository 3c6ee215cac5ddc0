// Package testcluster is TEST INFRASTRUCTURE: it runs a real Kubernetes API server (built by
// tools/kubetest/build.sh) on top of etcd, with KubeVirt's CRDs and two in-process stand-ins —
// a virt-controller that turns VirtualMachines into running VirtualMachineInstances and a
// virt-api that serves the start/stop/restart/vnc subresources through the aggregation layer —
// so that the real KubeVirt provider can be exercised against a real API server without a
// real KubeVirt. It is used by tests and by cmd/shepherd-testcluster (`make run-kube`), never
// by the production binary (cmd/shepherd must not import it).
package testcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"kubevirt.io/client-go/kubecli"

	"kv-shepherd.io/shepherd/internal/runner"
)

// KubeVersion is the Kubernetes version tools/kubetest/build.sh builds; it names the cache dir.
const KubeVersion = "v1.37.2"

// KubeVirtVersion is what the KubeVirt CR and the stand-in virt-api report.
const KubeVirtVersion = "v1.9.0-testcluster"

// NodeName is the one Node object of the test cluster; running VMIs are "scheduled" on it.
const NodeName = "testcluster-node-1"

// LimitedUser is a user that may only read namespaces, for Forbidden tests.
const LimitedUser = "shepherd-limited"

// Options configures Start.
type Options struct {
	// Dir holds certificates, kubeconfigs, logs and etcd's data. Required; wiped partly on start.
	Dir string
	// BinDir holds kube-apiserver and kubectl; default DefaultBinDir().
	BinDir string
	// EtcdPath defaults to etcd on $PATH, then /usr/bin/etcd.
	EtcdPath string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// StartDelay is how long a new VMI stays Scheduling before it is Running, and how long a
	// deleted VMI stays Stopping before it is gone. Default 300ms; negative means none.
	StartDelay time.Duration
	// DialVNC, when set, gives the RFB byte stream of a running VMI's console. Nil makes the
	// vnc subresource answer 503 "no VNC backend".
	DialVNC func(ctx context.Context, namespace, name string) (net.Conn, error)
}

// Env is a running test cluster.
type Env struct {
	Dir          string
	APIServerURL string
	KubectlPath  string
	// Kubeconfig files (paths and contents) with embedded CA data and a bearer token.
	AdminKubeconfig, LimitedKubeconfig         []byte
	AdminKubeconfigPath, LimitedKubeconfigPath string
	// APIServerStartup is the time from starting kube-apiserver until /readyz answered ok.
	APIServerStartup time.Duration

	logger  *slog.Logger // with component=testcluster
	base    *slog.Logger // for the stand-ins, which name their own component
	cancel  context.CancelFunc
	run     *runner.Runner
	lock    *os.File
	etcd    *proc
	api     *proc
	virtAPI *http.Server
	once    sync.Once
}

// DefaultBinDir is where tools/kubetest/build.sh caches the binaries: $SHEPHERD_CACHE (default
// $HOME/.cache/shepherd) + /kube-<version>.
func DefaultBinDir() string {
	base := os.Getenv("SHEPHERD_CACHE")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = filepath.Join(home, ".cache", "shepherd")
	}
	return filepath.Join(base, "kube-"+KubeVersion)
}

// BinariesPresent reports whether dir holds both kube-apiserver and kubectl.
func BinariesPresent(dir string) bool {
	for _, b := range []string{"kube-apiserver", "kubectl"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Start brings up etcd, the API server, the bootstrap objects and both stand-ins, and returns
// once the subresource API is Available. On error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	if opts.Dir == "" {
		return nil, errors.New("testcluster: Options.Dir is empty")
	}
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.StartDelay == 0 {
		opts.StartDelay = 300 * time.Millisecond
	}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	logger := base.With("component", "testcluster")
	if !BinariesPresent(opts.BinDir) {
		return nil, fmt.Errorf("testcluster: kube-apiserver/kubectl not in %s: run tools/kubetest/build.sh", opts.BinDir)
	}
	etcdPath, err := findEtcd(opts.EtcdPath)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Env{Dir: dir, KubectlPath: filepath.Join(opts.BinDir, "kubectl"), logger: logger, base: base, cancel: cancel,
		run: runner.New(runCtx, logger), lock: lock}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	began := time.Now()

	for _, sub := range []string{"etcd", "pki"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	p, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, err
	}
	adminToken, limitedToken := randomToken(), randomToken()
	tokens := filepath.Join(dir, "pki", "tokens.csv")
	// token,user,uid,"groups": admin is system:masters; the limited user has no groups, so
	// only the RBAC bindings made in bootstrap (and system:authenticated's basics) apply.
	tokenCSV := fmt.Sprintf("%s,admin,testcluster-admin,\"system:masters\"\n%s,%s,testcluster-limited\n",
		adminToken, limitedToken, LimitedUser)
	if err := os.WriteFile(tokens, []byte(tokenCSV), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	e.APIServerURL = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	e.etcd, err = startProc(e.run, dir, "etcd", etcdPath, []string{"--name", "testcluster",
		"--data-dir", filepath.Join(dir, "etcd"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "testcluster=" + peerURL, "--log-level", "warn", "--logger", "zap"})
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, e.etcd, http.DefaultClient, etcdURL+"/health", "", 30*time.Second); err != nil {
		return nil, err
	}

	apiStart := time.Now()
	e.api, err = startProc(e.run, dir, "kube-apiserver", filepath.Join(opts.BinDir, "kube-apiserver"), []string{
		"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		// Loopback addresses are refused in Endpoints, so the "kubernetes" service endpoint
		// reconciler must be off.
		"--endpoint-reconciler-type=none", "--secure-port=" + strconv.Itoa(ports[2]),
		"--tls-cert-file=" + p.apiCert, "--tls-private-key-file=" + p.apiKey,
		"--token-auth-file=" + tokens, "--authorization-mode=RBAC", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey, "--service-cluster-ip-range=10.96.0.0/16",
		// Aggregation layer: the API server proxies subresources.kubevirt.io to the stand-in
		// virt-api, authenticating as front-proxy-client and passing the user in headers.
		"--requestheader-client-ca-file=" + p.proxyCAF, "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file=" + p.proxyCrt, "--proxy-client-key-file=" + p.proxyKey,
		"--enable-aggregator-routing=false",
	})
	if err != nil {
		return nil, err
	}
	if err := e.writeKubeconfigs(p.caPEM, adminToken, limitedToken); err != nil {
		return nil, err
	}
	admin, err := e.AdminRESTConfig()
	if err != nil {
		return nil, err
	}
	adminHTTP, err := rest.HTTPClientFor(admin)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, e.api, adminHTTP, e.APIServerURL+"/readyz", "ok", 120*time.Second); err != nil {
		return nil, err
	}
	e.APIServerStartup = time.Since(apiStart)
	logger.Info("kube-apiserver ready", "url", e.APIServerURL, "startup", e.APIServerStartup.Round(time.Millisecond))

	kv, err := kubecli.GetKubevirtClientFromRESTConfig(admin)
	if err != nil {
		return nil, err
	}
	if err := bootstrap(ctx, kv, logger); err != nil {
		return nil, err
	}
	logger.Debug("bootstrap objects created", "elapsed", time.Since(began).Round(time.Millisecond))
	if err := e.startVirtAPI(ctx, runCtx, kv, p, opts.DialVNC); err != nil {
		return nil, err
	}
	logger.Debug("subresources.kubevirt.io available", "elapsed", time.Since(began).Round(time.Millisecond))
	if err := startController(runCtx, e.run, kv, opts.StartDelay, base); err != nil {
		return nil, err
	}
	logger.Info("test cluster ready", "dir", dir, "total", time.Since(began).Round(time.Millisecond))
	return e, nil
}

// Stop shuts the stand-ins down, then the API server, then etcd, and waits for all of it.
// Safe to call more than once.
func (e *Env) Stop() {
	e.once.Do(func() {
		e.cancel()
		if e.virtAPI != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = e.virtAPI.Shutdown(ctx)
			cancel()
			_ = e.virtAPI.Close() // hijacked websockets are not closed by Shutdown
		}
		e.api.stop(15 * time.Second)
		e.etcd.stop(15 * time.Second)
		e.run.Wait()
		_ = os.RemoveAll(filepath.Join(e.Dir, "etcd"))
		if e.lock != nil {
			e.lock.Close()
		}
		e.logger.Info("test cluster stopped", "dir", e.Dir)
	})
}

// AdminRESTConfig returns a fresh client config for the cluster admin, with QPS/Burst raised
// (client-go's defaults throttle tests after a handful of requests).
func (e *Env) AdminRESTConfig() (*rest.Config, error) { return restConfig(e.AdminKubeconfig) }

// LimitedRESTConfig is the same for LimitedUser.
func (e *Env) LimitedRESTConfig() (*rest.Config, error) { return restConfig(e.LimitedKubeconfig) }

func restConfig(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg, nil
}

func (e *Env) writeKubeconfigs(caPEM []byte, adminToken, limitedToken string) error {
	build := func(user, token string) ([]byte, error) {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["testcluster"] = &clientcmdapi.Cluster{Server: e.APIServerURL, CertificateAuthorityData: caPEM}
		cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts["testcluster"] = &clientcmdapi.Context{Cluster: "testcluster", AuthInfo: user, Namespace: "default"}
		cfg.CurrentContext = "testcluster"
		return clientcmd.Write(*cfg)
	}
	var err error
	if e.AdminKubeconfig, err = build("admin", adminToken); err != nil {
		return err
	}
	if e.LimitedKubeconfig, err = build(LimitedUser, limitedToken); err != nil {
		return err
	}
	e.AdminKubeconfigPath = filepath.Join(e.Dir, "admin.kubeconfig")
	e.LimitedKubeconfigPath = filepath.Join(e.Dir, "limited.kubeconfig")
	if err := os.WriteFile(e.AdminKubeconfigPath, e.AdminKubeconfig, 0o600); err != nil {
		return err
	}
	return os.WriteFile(e.LimitedKubeconfigPath, e.LimitedKubeconfig, 0o600)
}

// waitHTTP polls url until it answers 200 (and contains want), the process dies, or timeout.
func waitHTTP(ctx context.Context, p *proc, client *http.Client, url, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if p.exited() {
			return p.failure()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			var buf [256]byte
			n, _ := resp.Body.Read(buf[:])
			resp.Body.Close()
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, buf[:n])
			if resp.StatusCode == http.StatusOK && strings.Contains(string(buf[:n]), want) {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testcluster: %s not ready after %s (%s); log:\n%s", p.name, timeout, last, tail(p.logPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serverTLS is the stand-in virt-api's TLS config: a cert from the cluster CA, and client
// certs checked against the front-proxy CA so X-Remote-User can be trusted.
func serverTLS(p *pki) (*tls.Config, error) {
	crtFile, keyFile, err := p.issue("virt-api", []string{"virt-api.kubevirt.svc", "virt-api.kubevirt.svc.cluster.local"}, false)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(crtFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.proxyCA,
		// HTTP/1.1 only: websocket upgrades (vnc) need it, and nothing here benefits from h2.
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	}, nil
}

// fromFrontProxy reports whether the request carries the aggregator's verified client cert.
func fromFrontProxy(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return false
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName == "front-proxy-client"
}
