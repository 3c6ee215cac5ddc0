// Package deploy holds the Helm chart (helm/shepherd), the plain manifests rendered from it
// (manifests/shepherd.yaml, `make manifests`) and the tests of both: what the renderings must
// contain, and that a real Kubernetes API server accepts them (server-side dry run).
package deploy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"kv-shepherd.io/shepherd/internal/testcluster"
)

// The renderings `make manifests` writes (check-helm fails when they are stale).
var renderings = []string{
	"manifests/shepherd.yaml",     // default values: the plain manifests users apply
	"testdata/ingress.yaml",       // --set ingress.enabled=true
	"testdata/cloudnativepg.yaml", // -f helm/examples/cloudnativepg.yaml
}

// object is one document of a rendering: its kind and name, and its raw YAML.
type object struct {
	Kind string
	Name string
	YAML []byte
}

func load(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := utilyaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if meta.Kind == "" {
			continue // a document of comments only
		}
		if meta.Metadata.Namespace != "" {
			t.Errorf("%s: %s %s sets namespace %q; the manifests must apply to any namespace", path, meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace)
		}
		objs = append(objs, object{Kind: meta.Kind, Name: meta.Metadata.Name, YAML: doc})
	}
	return objs
}

func find[T any](t *testing.T, objs []object, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			v := new(T)
			if err := utilyaml.UnmarshalStrict(o.YAML, v); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return v
		}
	}
	t.Fatalf("no %s %s in the rendering", kind, name)
	return nil
}

func kinds(objs []object) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		m[o.Kind]++
	}
	return m
}

// Secrets are referenced, never rendered: no Secret or ConfigMap objects, and every secret
// setting comes from a secretKeyRef.
func TestNoSecretsRendered(t *testing.T) {
	secretEnv := map[string]bool{"DATABASE_URL": true, "SHEPHERD_OIDC_CLIENT_SECRET": true,
		"SHEPHERD_ENCRYPTION_KEY": true, "SHEPHERD_SESSION_SECRET": true, "SHEPHERD_METRICS_TOKEN": true}
	for _, path := range renderings {
		objs := load(t, path)
		k := kinds(objs)
		if k["Secret"]+k["ConfigMap"] != 0 {
			t.Errorf("%s renders Secrets or ConfigMaps: %v", path, k)
		}
		var containers []corev1.Container
		containers = append(containers, find[appsv1.Deployment](t, objs, "Deployment", "shepherd").Spec.Template.Spec.Containers...)
		containers = append(containers, find[batchv1.Job](t, objs, "Job", "shepherd-migrate").Spec.Template.Spec.Containers...)
		for _, c := range containers {
			for _, e := range c.Env {
				if secretEnv[e.Name] && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("%s: %s of container %s is not taken from a Secret", path, e.Name, c.Name)
				}
			}
		}
	}
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func checkSecurity(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: a service account token is mounted", what)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("%s: service links would add SHEPHERD_PORT and the like to the environment", what)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod security context %+v; want non-root uid 65532, seccomp RuntimeDefault", what, psc)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
			t.Errorf("%s: container %s security context %+v", what, c.Name, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: container %s has no memory request or limit", what, c.Name)
		}
		tmp := false
		for _, m := range c.VolumeMounts {
			tmp = tmp || m.MountPath == "/tmp"
		}
		if !tmp {
			t.Errorf("%s: container %s has no writable /tmp", what, c.Name)
		}
	}
}

func TestDefaultManifests(t *testing.T) {
	objs := load(t, "manifests/shepherd.yaml")
	k := kinds(objs)
	for kind, n := range map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 2, "PodDisruptionBudget": 1, "Job": 1,
		"Ingress": 0, "ServiceMonitor": 0, "Role": 0, "ClusterRole": 0, "RoleBinding": 0, "ClusterRoleBinding": 0} {
		if k[kind] != n {
			t.Errorf("%d %s objects; want %d (all: %v)", k[kind], kind, n, k)
		}
	}

	d := find[appsv1.Deployment](t, objs, "Deployment", "shepherd")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v; want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	checkSecurity(t, "Deployment", pod)
	var preStop int64
	if l := pod.Containers[0].Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = l.PreStop.Sleep.Seconds
	}
	if preStop == 0 {
		t.Error("no preStop sleep: a rolling update would send requests to a pod that stopped listening")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30+preStop {
		t.Errorf("terminationGracePeriodSeconds %v; want at least 30 after the %d s preStop sleep (River gets 15 s to finish jobs)",
			pod.TerminationGracePeriodSeconds, preStop)
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil ||
		len(pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("affinity %+v; want a preferred podAntiAffinity by hostname", pod.Affinity)
	}
	c := pod.Containers[0]
	if strings.Join(c.Args, " ") != "serve" {
		t.Errorf("args %q; want serve", c.Args)
	}
	env := envOf(c)
	for name, want := range map[string]string{"SHEPHERD_ADDR": "0.0.0.0:8080", "SHEPHERD_METRICS_ADDR": "0.0.0.0:9464",
		"SHEPHERD_LOG_FORMAT": "json", "SHEPHERD_BASE_URL": "https://shepherd.example.com"} {
		if env[name].Value != want {
			t.Errorf("%s = %q; want %q", name, env[name].Value, want)
		}
	}
	for name, ref := range map[string][2]string{"DATABASE_URL": {"shepherd-db", "url"},
		"SHEPHERD_ENCRYPTION_KEY": {"shepherd-keys", "encryption-key"}, "SHEPHERD_SESSION_SECRET": {"shepherd-keys", "session-secret"}} {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != ref[0] || e.ValueFrom.SecretKeyRef.Key != ref[1] {
			t.Errorf("%s = %+v; want Secret %s key %s", name, e, ref[0], ref[1])
		}
	}
	if _, ok := env["SHEPHERD_OIDC_ISSUER"]; ok {
		t.Error("OIDC is configured although oidc.issuer is empty by default")
	}
	probes := map[string]*corev1.Probe{"/health/live": c.LivenessProbe, "/health/ready": c.ReadinessProbe}
	for path, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("probe %+v; want %s", p, path)
		}
	}
	if s := c.StartupProbe; s == nil || s.HTTPGet == nil || s.HTTPGet.Path != "/health/startup" || s.FailureThreshold*s.PeriodSeconds < 120 {
		t.Errorf("startup probe %+v; want /health/startup allowing minutes of migrations", s)
	}

	svc := find[corev1.Service](t, objs, "Service", "shepherd")
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["http"] != 8080 || ports["metrics"] != 9464 || len(ports) != 2 {
		t.Errorf("service ports %v; want http 8080, metrics 9464", ports)
	}
	pdb := find[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "shepherd")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable %v; want 1", pdb.Spec.MinAvailable)
	}

	// The Service and the PDB select the server's pods only, never the migration Job's.
	job := find[batchv1.Job](t, objs, "Job", "shepherd-migrate")
	if selects(svc.Spec.Selector, job.Spec.Template.Labels) || selects(pdb.Spec.Selector.MatchLabels, job.Spec.Template.Labels) {
		t.Errorf("the Service's or the PDB's selector also selects the migration Job's pods %v", job.Spec.Template.Labels)
	}
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the Service's or the PDB's selector misses the server's pods %v", d.Spec.Template.Labels)
	}
}

// selects reports whether selector matches labels.
func selects(selector, labels map[string]string) bool {
	for key, v := range selector {
		if labels[key] != v {
			return false
		}
	}
	return len(selector) > 0
}

func TestMigrationJob(t *testing.T) {
	objs := load(t, "manifests/shepherd.yaml")
	job := find[batchv1.Job](t, objs, "Job", "shepherd-migrate")
	if h := job.Annotations["helm.sh/hook"]; h != "pre-install,pre-upgrade" {
		t.Errorf("helm.sh/hook %q", h)
	}
	checkSecurity(t, "Job", job.Spec.Template.Spec)
	c := job.Spec.Template.Spec.Containers[0]
	if strings.Join(c.Args, " ") != "migrate" {
		t.Errorf("args %q; want migrate", c.Args)
	}
	if job.Spec.Template.Spec.ServiceAccountName != "shepherd-migrate" {
		t.Errorf("the Job runs as %q", job.Spec.Template.Spec.ServiceAccountName)
	}
	sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", "shepherd-migrate")
	if sa.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" || sa.Annotations["helm.sh/hook-weight"] != "-10" ||
		job.Annotations["helm.sh/hook-weight"] != "0" {
		t.Errorf("the Job's ServiceAccount is not a hook created before it: %v", sa.Annotations)
	}
}

func TestIngress(t *testing.T) {
	for _, path := range []string{"testdata/ingress.yaml", "testdata/cloudnativepg.yaml"} {
		objs := load(t, path)
		ing := find[networkingv1.Ingress](t, objs, "Ingress", "shepherd")
		for key, want := range map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
			"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600", "nginx.ingress.kubernetes.io/proxy-buffering": "off"} {
			if ing.Annotations[key] != want {
				t.Errorf("%s: annotation %s = %q; want %q", path, key, ing.Annotations[key], want)
			}
		}
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service == nil || p.Backend.Service.Port.Name != "http" {
					t.Errorf("%s: Ingress path %s routes to %+v; only the http port may be exposed", path, p.Path, p.Backend)
				}
			}
		}
		if len(ing.Spec.TLS) != 1 {
			t.Errorf("%s: tls %+v", path, ing.Spec.TLS)
		}
	}
	objs := load(t, "testdata/cloudnativepg.yaml")
	env := envOf(find[appsv1.Deployment](t, objs, "Deployment", "shepherd").Spec.Template.Spec.Containers[0])
	if ref := env["DATABASE_URL"].ValueFrom.SecretKeyRef; ref.Name != "shepherd-db-app" || ref.Key != "uri" {
		t.Errorf("CloudNativePG: DATABASE_URL from %s/%s; want shepherd-db-app/uri", ref.Name, ref.Key)
	}
	if ref := env["SHEPHERD_OIDC_CLIENT_SECRET"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "shepherd-oidc" {
		t.Errorf("CloudNativePG example: OIDC client secret %+v", ref)
	}
}

// The real API server (the test cluster) accepts every rendering: schemas, defaulting and
// validation all run, nothing is stored.
func TestServerDryRun(t *testing.T) {
	cl := testcluster.FromEnv(t)
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), cl.KubectlPath, append([]string{"--kubeconfig", cl.KubeconfigPath, "--request-timeout=60s"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "deploy-" + hex.EncodeToString(b)
	if out, err := kubectl("create", "namespace", ns); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		cmd := exec.Command(cl.KubectlPath, "--kubeconfig", cl.KubeconfigPath, "delete", "namespace", ns, "--wait=false")
		_ = cmd.Run()
	})
	for _, path := range renderings {
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := kubectl("apply", "--dry-run=server", "-n", ns, "-f", abs)
		if err != nil {
			t.Errorf("%s: kubectl apply --dry-run=server: %v\n%s", path, err, out)
			continue
		}
		want := len(load(t, path))
		if got := strings.Count(out, "(server dry run)"); got != want {
			t.Errorf("%s: %d objects accepted, want %d:\n%s", path, got, want, out)
		}
		t.Logf("%s: %d objects accepted in %v", path, want, time.Since(start).Round(time.Millisecond))
	}

	// The check has teeth: a misspelt field (strict field validation) and an invalid value are refused.
	data, err := os.ReadFile("manifests/shepherd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for what, bad := range map[string][2]string{
		"unknown field": {"readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		"invalid value": {"minAvailable: 1", "minAvailable: -1"},
	} {
		broken := filepath.Join(t.TempDir(), "broken.yaml")
		if err := os.WriteFile(broken, bytes.Replace(data, []byte(bad[0]), []byte(bad[1]), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := kubectl("apply", "--dry-run=server", "-n", ns, "-f", broken)
		if err == nil {
			t.Errorf("%s (%s): the server accepted it:\n%s", what, bad[1], out)
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		t.Logf("%s refused: %s", what, lines[len(lines)-1])
	}
}
