package kubevirt_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// A user whom RBAC forbids VirtualMachines gets permanent, readable errors: the
// health check says so, an apply fails the ticket at once, and a namespace the user
// may read but not create is still usable.
func TestForbiddenCredentials(t *testing.T) {
	shared := testcluster.FromEnv(t)
	ctx := t.Context()
	ns := shared.Namespace(t, "forbidden")
	limited, err := os.ReadFile(shared.LimitedKubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := kubevirt.New("limited", limited, kubevirt.Options{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Health(ctx); !kube.IsPermanent(err) || kube.Classify(err).Code != kube.CodePermissionDenied {
		t.Errorf("Health: err = %v, want permanent %s", err, kube.CodePermissionDenied)
	}
	_, _, err = kubevirt.Probe(ctx, limited, 20*time.Second)
	if !kube.IsPermanent(err) || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("Probe: err = %v, want a permanent 'forbidden'", err)
	}
	if created, err := p.EnsureNamespace(ctx, ns, nil); err != nil || created {
		t.Errorf("EnsureNamespace of an existing namespace the user cannot create: %v, created %v", err, created)
	}
	_, err = p.EnsureNamespace(ctx, "forbidden-new-"+strings.ToLower(t.Name()[len(t.Name())-4:]), nil)
	if ke := kube.Classify(err); ke == nil || ke.Code != kube.CodeNamespacePermissionDenied || ke.Kind != kube.Permanent {
		t.Errorf("EnsureNamespace of a new namespace: err = %v, want permanent %s", err, kube.CodeNamespacePermissionDenied)
	}
	_, err = p.ApplyVM(ctx, kube.VMSpec{Ref: kube.VMRef{Namespace: ns, Name: "vm-f"}, Image: "x", CPUCores: 1})
	if ke := kube.Classify(err); ke == nil || ke.Code != kube.CodePermissionDenied || ke.Kind != kube.Permanent {
		t.Errorf("ApplyVM: err = %v, want permanent %s", err, kube.CodePermissionDenied)
	}
}

// An API server that goes away mid-operation and comes back: calls fail retryably
// within the timeout, the breaker then fails them fast, and once the server is back
// calls and the open watch work again without a new provider.
func TestAPIServerAwayAndBack(t *testing.T) {
	shared := testcluster.FromEnv(t)
	ns := shared.Namespace(t, "away")
	admin, err := os.ReadFile(shared.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	server := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	u, _ := url.Parse(server.Server)
	proxy := newCutProxy(t, u.Host)
	server.Server = "https://" + proxy.addr
	viaProxy, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p, err := kubevirt.New("away", viaProxy, kubevirt.Options{
		Timeout:         3 * time.Second,
		BreakerFailures: 3,
		BreakerCooldown: time.Second,
		Logger:          slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, err := p.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := kube.VMRef{Namespace: ns, Name: "vm-away"}
	spec := kube.VMSpec{Ref: ref, Image: "quay.io/kubevirt/cirros-container-disk-demo", CPUCores: 1, MemoryRequest: "64Mi"}
	if _, err := p.ApplyVM(ctx, spec); err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	for i := range 3 {
		start := time.Now()
		_, err := p.GetVM(ctx, ref)
		if !kube.IsRetryable(err) {
			t.Fatalf("GetVM %d while the API server is away: err = %v, want retryable", i, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("GetVM %d took %s with a 3s timeout", i, d)
		}
	}
	start := time.Now()
	if _, err := p.GetVM(ctx, ref); !kube.IsRetryable(err) || !strings.Contains(err.Error(), "paused") {
		t.Errorf("GetVM with the breaker open: err = %v, want a fast retryable 'paused'", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("an open breaker took %s to refuse", d)
	}

	proxy.restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := p.GetVM(ctx, ref)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetVM after the API server came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The watch reconnected by itself: a change made now is seen.
	spec.Running = true
	if _, err := p.ApplyVM(ctx, spec); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for seen := false; !seen; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the watch closed while the API server was away")
			}
			seen = ev.Status.Ref == ref && ev.Status.Phase == kube.PhaseRunning
		case <-timeout:
			t.Fatal("no event after the API server came back")
		}
	}
	token := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Token
	if token == "" || strings.Contains(logs.String(), token) {
		t.Errorf("the provider's log contains the token (or the kubeconfig has none)")
	}
}

// cutProxy forwards TCP to the API server and can drop every connection and refuse
// new ones, as an API server restart or a network partition would.
type cutProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, target: target, addr: ln.Addr().String()}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("re-listen on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
