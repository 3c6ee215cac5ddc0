package testcluster

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/kubecli"
	"kubevirt.io/client-go/subresources"
	kvversion "kubevirt.io/client-go/version"

	"kv-shepherd.io/shepherd/internal/runner"
)

// virtAPI is the stand-in for KubeVirt's virt-api: the subresources.kubevirt.io/v1 API behind
// the API server's aggregation layer. The API server authenticates the user and enforces RBAC
// before proxying, so the handlers act with the admin client, like virt-api's service account.
type virtAPI struct {
	kv      kubecli.KubevirtClient
	run     *runner.Runner
	ctx     context.Context // ends at Env.Stop: open VNC sessions are closed then
	dialVNC func(ctx context.Context, namespace, name string) (net.Conn, error)
	log     *slog.Logger
}

const subresourcePrefix = "/apis/subresources.kubevirt.io/v1"

// startVirtAPI serves the stand-in on a loopback port, registers it as the APIService
// v1.subresources.kubevirt.io (through an ExternalName Service: Endpoints refuse loopback
// addresses) and waits for the aggregator to report it Available.
func (e *Env) startVirtAPI(ctx, runCtx context.Context, kv kubecli.KubevirtClient, p *pki,
	dial func(ctx context.Context, namespace, name string) (net.Conn, error)) error {
	tlsCfg, err := serverTLS(p)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	a := &virtAPI{kv: kv, run: e.run, ctx: runCtx, dialVNC: dial, log: e.base.With("component", "testcluster-virt-api")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET "+subresourcePrefix+"/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /apis/subresources.kubevirt.io", a.group)
	mux.HandleFunc("GET "+subresourcePrefix, a.resources)
	mux.HandleFunc("GET "+subresourcePrefix+"/version", a.version)
	// The aggregator merges every backend's OpenAPI document into its own and logs an error
	// each time one is missing; an empty one keeps its log readable.
	mux.HandleFunc("GET /openapi/v2", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"swagger": "2.0", "info": map[string]any{"title": "KubeVirt API (testcluster)", "version": KubeVirtVersion}, "paths": map[string]any{}})
	})
	mux.HandleFunc("GET /openapi/v3", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, map[string]any{"paths": map[string]any{}}) })
	mux.HandleFunc("PUT "+subresourcePrefix+"/namespaces/{ns}/virtualmachines/{name}/{action}", a.frontProxyOnly(a.lifecycle))
	mux.HandleFunc("GET "+subresourcePrefix+"/namespaces/{ns}/virtualmachineinstances/{name}/vnc", a.frontProxyOnly(a.vnc))
	e.virtAPI = &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// TLS handshake noise (probes, closed connections) goes to debug, not to stderr.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	e.run.Go("testcluster-virt-api", func(context.Context) error {
		if err := e.virtAPI.Serve(tls.NewListener(ln, tlsCfg)); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return register(ctx, kv, port, p.caPEM)
}

func register(ctx context.Context, kv kubecli.KubevirtClient, port int, caPEM []byte) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "virt-api", Namespace: KubeVirtNamespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}},
	}
	if _, err := kv.CoreV1().Services(KubeVirtNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("testcluster: virt-api service: %w", err)
	}
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1.subresources.kubevirt.io"},
		// caBundle is []byte in the API type, so base64 in JSON. The aggregator verifies the
		// stand-in's cert for virt-api.kubevirt.svc against it.
		"spec": map[string]any{
			"group": "subresources.kubevirt.io", "version": "v1",
			"service":  map[string]any{"namespace": KubeVirtNamespace, "name": "virt-api", "port": int64(port)},
			"caBundle": base64.StdEncoding.EncodeToString(caPEM), "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
		},
	}}
	api := kv.DynamicClient().Resource(gvr)
	if _, err := api.Create(ctx, apiService, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("testcluster: APIService: %w", err)
	}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := api.Get(ctx, "v1.subresources.kubevirt.io", metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", m["reason"], m["message"])
				if m["status"] == "True" {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("testcluster: APIService v1.subresources.kubevirt.io not Available (%s): %w", last, err)
	}
	return nil
}

// frontProxyOnly refuses requests that did not come through the aggregator: only then are the
// X-Remote-User headers trustworthy and RBAC already enforced.
func (a *virtAPI) frontProxyOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !fromFrontProxy(r) {
			writeError(w, apierrors.NewUnauthorized("requests must come through the Kubernetes API server"))
			return
		}
		h(w, r)
	}
}

func (a *virtAPI) lifecycle(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	switch r.PathValue("action") {
	case "start":
		a.start(w, r, ns, name)
	case "stop":
		a.stop(w, r, ns, name)
	case "restart":
		a.restart(w, r, ns, name)
	default:
		writeError(w, apierrors.NewNotFound(v1.Resource("virtualmachines/"+r.PathValue("action")), name))
	}
}

func (a *virtAPI) group(w http.ResponseWriter, _ *http.Request) {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: "subresources.kubevirt.io/v1", Version: "v1"}
	writeJSON(w, metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name: "subresources.kubevirt.io", Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
}

func (a *virtAPI) resources(w http.ResponseWriter, _ *http.Request) {
	res := []metav1.APIResource{{Name: "virtualmachineinstances/vnc", Namespaced: true, Verbs: metav1.Verbs{"get"}}}
	for _, action := range []string{"start", "stop", "restart"} {
		res = append(res, metav1.APIResource{Name: "virtualmachines/" + action, Namespaced: true, Verbs: metav1.Verbs{"update"}})
	}
	writeJSON(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "subresources.kubevirt.io/v1", APIResources: res})
}

// version is what kubecli's ServerVersion() reads, as from a real virt-api.
func (a *virtAPI) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, kvversion.Info{GitVersion: KubeVirtVersion, GitTreeState: "clean", BuildDate: "2026-01-01T00:00:00Z",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH})
}

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{subresources.PlainStreamProtocolName},
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
	// The aggregator forwards the browser's or client's Origin; the API server already
	// authenticated the request, which is what matters here.
	CheckOrigin: func(*http.Request) bool { return true },
}

// vnc bridges the websocket (binary messages, subprotocol plain.kubevirt.io) to the VMI's RFB
// stream from the DialVNC hook.
func (a *virtAPI) vnc(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	vmi, err := a.kv.VirtualMachineInstance(ns).Get(r.Context(), name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		writeError(w, apierrors.NewNotFound(v1.Resource("virtualmachineinstance"), name))
		return
	case err != nil:
		writeError(w, apierrors.NewInternalError(err))
		return
	case vmi.Status.Phase != v1.Running:
		writeError(w, apierrors.NewConflict(v1.Resource("virtualmachineinstance"), name, errors.New("VMI is not running")))
		return
	case a.dialVNC == nil:
		writeError(w, apierrors.NewServiceUnavailable("no VNC backend"))
		return
	}
	rfb, err := a.dialVNC(r.Context(), ns, name)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("dialing VNC for %s/%s: %w", ns, name, err)))
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		rfb.Close()
		return // Upgrade has answered already
	}
	closeBoth := func() { ws.Close(); rfb.Close() }
	stop := context.AfterFunc(a.ctx, closeBoth) // Env.Stop ends sessions; hijacked conns outlive the server
	defer stop()
	defer closeBoth()
	a.run.Go("testcluster-vnc-rfb-to-ws", func(context.Context) error {
		defer closeBoth()
		buf := make([]byte, 32<<10)
		for {
			n, err := rfb.Read(buf)
			if n > 0 {
				if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
					return nil
				}
			}
			if err != nil {
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
					time.Now().Add(time.Second))
				return nil
			}
		}
	})
	for {
		_, msg, err := ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(rfb, msg); err != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
