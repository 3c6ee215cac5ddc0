package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// The credential of the hand-written kubeconfigs; the secret scans look for it.
const fakeToken = "s3cr3t-web-token-d0-not-leak-77c1"

func kubeconfig(server, user string) string {
	return `apiVersion: v1
kind: Config
current-context: ops
contexts:
- name: ops
  context: {cluster: east, user: shepherd}
clusters:
- name: east
  cluster: {server: "` + server + `", insecure-skip-tls-verify: true}
users:
- name: shepherd
  user:
` + user
}

var tokenUser = "    token: " + fakeToken + "\n"

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// postMultipart sends a multipart form (a browser's file upload) with the session's
// CSRF token; file, when not nil, is the kubeconfig_file part. htmx adds its headers.
func (u *user) postMultipart(t *testing.T, path string, fields url.Values, file []byte, htmx bool) (int, string, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	if !htmx {
		_ = w.WriteField("csrf_token", u.csrf)
	}
	if file != nil {
		part, err := w.CreateFormFile("kubeconfig_file", "kubeconfig.yaml")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = part.Write(file)
	}
	w.Close()
	req, err := http.NewRequest(http.MethodPost, u.env.URL+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	if htmx {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", u.csrf)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func registerForm(name, pasted string) url.Values {
	return url.Values{"name": {name}, "environment": {"test"}, "provider": {"kubevirt"}, "scheduling_weight": {"100"}, "kubeconfig": {pasted}}
}

// textareaValue returns the content of the textarea named name.
func textareaValue(body, name string) string {
	m := regexp.MustCompile(`(?s)<textarea[^>]*name="` + name + `"[^>]*>(.*?)</textarea>`).FindStringSubmatch(body)
	if m == nil {
		return "<no textarea " + name + ">"
	}
	return m[1]
}

func TestRegisterRefusesBadKubeconfigsWithoutEchoingThem(t *testing.T) {
	env := apptest.Start(t)
	carol := signIn(t, env, "demo-carol")
	malformed := "apiVersion: v1\nclusters: [oops\ntoken: " + fakeToken
	execPlugin := kubeconfig("https://127.0.0.1:6443", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      args: [\""+fakeToken+"\"]\n")
	unreachable := closedPort(t)
	cases := []struct {
		name   string
		pasted string
		file   []byte
		want   string
	}{
		{"malformed paste", malformed, nil, "does not parse as kubeconfig"},
		{"exec plugin upload", "", []byte(execPlugin), "exec credential plugin"},
		{"both", kubeconfig(unreachable, tokenUser), []byte(kubeconfig(unreachable, tokenUser)), "not both"},
		{"unreachable", kubeconfig(unreachable, tokenUser), nil, "Could not reach the API server at " + unreachable},
	}
	for _, tc := range cases {
		start := time.Now()
		status, body, _ := carol.postMultipart(t, "/admin/clusters", registerForm("east-1", tc.pasted), tc.file, false)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d", tc.name, status)
			continue
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: took %s", tc.name, took)
		}
		if msg := fieldError(body, "kubeconfig"); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: kubeconfig error %q, want %q", tc.name, msg, tc.want)
		}
		if strings.Contains(body, fakeToken) || strings.TrimSpace(textareaValue(body, "kubeconfig")) != "" {
			t.Errorf("%s: the kubeconfig was echoed into the page", tc.name)
		}
		if !strings.Contains(body, `data-testid="kubeconfig-dropped"`) || inputValue(body, "name") != "east-1" {
			t.Errorf("%s: the form does not keep the name and ask for the kubeconfig again", tc.name)
		}
	}
	if !strings.Contains(fieldError(lastBody(t, carol, unreachable), "kubeconfig"), "Check the server URL") {
		t.Error("the unreachable error carries no hint")
	}
	if n := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("east-1")).CountX(t.Context()); n != 0 {
		t.Errorf("%d clusters written", n)
	}
	if strings.Contains(env.Logs.String(), fakeToken) {
		t.Error("the kubeconfig's token was logged")
	}
}

func lastBody(t *testing.T, u *user, server string) string {
	_, body, _ := u.postMultipart(t, "/admin/clusters", registerForm("east-1", kubeconfig(server, tokenUser)), nil, false)
	return body
}

func TestTestConnectionShowsTheErrorAndSavesNothing(t *testing.T) {
	env := apptest.Start(t)
	carol := signIn(t, env, "demo-carol")
	server := closedPort(t)
	fields := url.Values{"name": {"east-1"}, "kubeconfig": {kubeconfig(server, tokenUser)}}
	status, body, _ := carol.postMultipart(t, "/admin/clusters/test-connection", fields, nil, true)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="connection-error"`) ||
		!strings.Contains(body, "connection refused") || !strings.Contains(body, `data-testid="connection-hint"`) {
		t.Fatalf("test connection: %d %s", status, body)
	}
	if strings.Contains(body, "<html") || strings.Contains(body, fakeToken) {
		t.Error("the fragment is a whole page or quotes the kubeconfig")
	}
	// Unsafe requests need the CSRF token, htmx ones too.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/admin/clusters/test-connection", strings.NewReader("kubeconfig=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	resp, err := carol.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("test connection without CSRF token: %d", resp.StatusCode)
	}
	if n := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("east-1")).CountX(t.Context()); n != 0 {
		t.Error("a connection test saved a cluster")
	}
}

func TestClusterActionsAreForClusterAdminsOnly(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("sim-test-b")).OnlyX(ctx)
	base := "/admin/clusters/" + k.ID.String()
	kc := kubeconfig(closedPort(t), tokenUser)
	for _, sub := range []string{"demo-alice", "demo-bob", "demo-victor", "demo-dana"} {
		u := signIn(t, env, sub)
		if status, _ := u.get(t, base); status != http.StatusForbidden {
			t.Errorf("%s GET cluster page: %d", sub, status)
		}
		for _, path := range []string{"/admin/clusters", "/admin/clusters/test-connection", base + "/credentials", base + "/delete"} {
			status, _, _ := u.postMultipart(t, path, url.Values{"name": {"sneaky"}, "environment": {"test"}, "provider": {"kubevirt"},
				"kubeconfig": {kc}, "confirm_name": {k.Name}}, nil, false)
			if status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", sub, path, status)
			}
		}
	}
	if k2 := env.App.Store.Ent.Cluster.GetX(ctx, k.ID); k2.DeletedAt != nil {
		t.Error("a refused delete deleted the cluster")
	}
	if env.App.Store.Ent.Cluster.Query().Where(cluster.Name("sneaky")).ExistX(ctx) {
		t.Error("a refused register wrote a cluster")
	}
}

// liveVM puts a running VM on cluster k.
func liveVM(t *testing.T, env *apptest.Env, k *ent.Cluster) *ent.VM {
	t.Helper()
	id := func() uuid.UUID { return uuid.New() }
	return env.App.Store.Ent.VM.Create().SetName("dev-shop-web-1").SetServiceID(id()).SetSystemID(id()).SetNamespaceID(id()).
		SetNamespaceName("dev").SetEnvironment("test").SetClusterID(k.ID).SetInstanceIndex(1).SetInstanceSizeID(id()).
		SetTemplateID(id()).SetTicketID(id()).SetCreatedBy(id()).SetStatus("RUNNING").SaveX(t.Context())
}

func TestClusterPageAndDelete(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("sim-test-a")).OnlyX(ctx)
	base := "/admin/clusters/" + k.ID.String()
	_, list := carol.get(t, "/admin/clusters")
	if !strings.Contains(rowOf(list, "sim-test-a"), `href="`+base+`"`) || !strings.Contains(rowOf(list, "sim-test-a"), ">Healthy<") {
		t.Errorf("list row does not link the page or say Healthy: %s", rowOf(list, "sim-test-a"))
	}
	v := liveVM(t, env, k)
	status, body := carol.get(t, base)
	if status != http.StatusOK {
		t.Fatalf("cluster page: %d", status)
	}
	for _, want := range []string{`data-testid="live-vms">1<`, `data-testid="health-history"`, `data-fact="storage"`, "hugepages", "Simulated clusters run inside Shepherd", `data-testid="delete-blocked"`} {
		if !strings.Contains(body, want) {
			t.Errorf("cluster page lacks %q", want)
		}
	}
	status, body, _ = carol.post(t, base+"/delete", url.Values{"confirm_name": {"sim-test-a"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "1 VM still lives on it") {
		t.Fatalf("delete with a live VM: %d", status)
	}
	env.App.Store.Ent.VM.UpdateOne(v).SetStatus("DELETED").SetDeletedAt(time.Now()).ExecX(ctx)
	status, body, _ = carol.post(t, base+"/delete", url.Values{"confirm_name": {"sim-test"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "CONFIRMATION_NAME_MISMATCH") || inputValue(body, "confirm_name") != "sim-test" {
		t.Fatalf("delete with a mistyped name: %d", status)
	}
	if loc := carol.mustRedirect(t, base+"/delete", url.Values{"confirm_name": {"sim-test-a"}}); loc != "/admin/clusters" {
		t.Errorf("delete redirects to %q", loc)
	}
	if _, list := carol.get(t, "/admin/clusters"); rowOf(list, "sim-test-a") != "" || !strings.Contains(list, "Cluster sim-test-a deleted") {
		t.Error("the deleted cluster is still listed, or no flash says so")
	}
	if status, _ := carol.get(t, base); status != http.StatusNotFound {
		t.Errorf("deleted cluster page: %d", status)
	}
	audit := env.App.Store.Ent.AuditLog.Query().AllX(ctx)
	if last := audit[len(audit)-1]; last.Action != "cluster.delete" || last.ResourceName != "sim-test-a" {
		t.Errorf("last audit row %s %s", last.Action, last.ResourceName)
	}
}

// TestOnboardARealCluster registers the run's test cluster through the pages: upload,
// test connection, the cluster page, a rotation and the edit form, then scans every
// page, log line and audit row for the kubeconfig's secrets.
func TestOnboardARealCluster(t *testing.T) {
	shared := testcluster.FromEnv(t)
	admin, err := os.ReadFile(shared.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	limited, err := os.ReadFile(shared.LimitedKubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	var pages []string

	status, body, _ := carol.postMultipart(t, "/admin/clusters/test-connection", url.Values{}, admin, true)
	pages = append(pages, body)
	if status != http.StatusOK || !strings.Contains(body, `data-testid="connection-ok"`) || !strings.Contains(body, testcluster.KubeVirtVersion) {
		t.Fatalf("test connection: %d %s", status, body)
	}
	status, body, loc := carol.postMultipart(t, "/admin/clusters", url.Values{"name": {"kube-east"}, "environment": {"test"},
		"provider": {"kubevirt"}, "scheduling_weight": {"70"}, "storage_classes": {"typed-by-hand"}}, admin, false)
	pages = append(pages, body)
	if status != http.StatusSeeOther {
		t.Fatalf("register: %d %s", status, errorsIn(body))
	}
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("kube-east")).OnlyX(ctx)
	if loc != "/admin/clusters/"+k.ID.String() || k.Status != cluster.StatusHEALTHY || k.AuthMethod != "token" || k.SchedulingWeight != 70 ||
		k.KubevirtVersion != testcluster.KubeVirtVersion || strings.Contains(strings.Join(k.StorageClasses, ","), "typed-by-hand") {
		t.Fatalf("registered %+v, redirect %q", k, loc)
	}
	_, body = carol.get(t, loc)
	pages = append(pages, body)
	for _, want := range []string{"Cluster kube-east registered: Healthy", `data-testid="api-server">` + k.APIServerURL,
		`data-testid="auth-method">token`, "Registered: the connection test passed.", testcluster.KubeVirtVersion, "Stored encrypted; never shown"} {
		if !strings.Contains(body, want) {
			t.Errorf("cluster page lacks %q", want)
		}
	}

	status, body, _ = carol.postMultipart(t, loc+"/credentials", url.Values{}, limited, false)
	pages = append(pages, body)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "kubeconfig"), "PERMISSION_DENIED") ||
		!strings.Contains(body, `data-testid="kubeconfig-dropped"`) {
		t.Errorf("rotate to forbidden credentials: %d %s", status, fieldError(body, "kubeconfig"))
	}
	status, body, _ = carol.postMultipart(t, loc+"/credentials", url.Values{"kubeconfig": {string(admin)}}, nil, false)
	if status != http.StatusSeeOther {
		t.Fatalf("rotate: %d %s", status, errorsIn(body))
	}
	_, body = carol.get(t, loc+"/edit")
	pages = append(pages, body)
	if strings.Contains(body, `name="gpu_devices"`) || !strings.Contains(body, `name="default_storage_class"`) {
		t.Error("the edit form of a real cluster offers hardware fields")
	}
	_, body = carol.get(t, "/admin/clusters")
	pages = append(pages, body)
	_, body = carol.get(t, "/admin/audit")
	pages = append(pages, body)

	secrets := kubeconfigSecrets(t, admin, limited)
	for i, p := range pages {
		for _, s := range secrets {
			if strings.Contains(p, s) {
				t.Errorf("page %d shows a kubeconfig secret", i)
			}
		}
	}
	logs := env.Logs.String()
	for _, r := range env.App.Store.Ent.AuditLog.Query().AllX(ctx) {
		b, _ := json.Marshal(r)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("audit row %s carries a kubeconfig secret", r.Action)
			}
			if strings.Contains(logs, s) {
				t.Error("the logs carry a kubeconfig secret")
			}
		}
	}
	var actions []string
	for _, r := range env.App.Store.Ent.AuditLog.Query().AllX(ctx) {
		if r.ResourceID == k.ID.String() {
			actions = append(actions, r.Action)
		}
	}
	if strings.Join(actions, ",") != "cluster.register,cluster.credential_rotate" {
		t.Errorf("audit %v", actions)
	}
}

// kubeconfigSecrets returns the token lines' values and the certificate/key blocks.
func kubeconfigSecrets(t *testing.T, kcs ...[]byte) []string {
	t.Helper()
	var out []string
	re := regexp.MustCompile(`(?m)^\s*(token|client-key-data|client-certificate-data|password):\s*(\S+)`)
	for _, kc := range kcs {
		for _, m := range re.FindAllStringSubmatch(string(kc), -1) {
			out = append(out, strings.Trim(m[2], `"`))
		}
	}
	if len(out) == 0 {
		t.Fatal("no credentials found in the test kubeconfigs")
	}
	return out
}
