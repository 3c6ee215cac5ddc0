package admin_test

import (
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

const goodOverrides = `{"spec.template.spec.domain.cpu.model": "host-passthrough", "spec.template.spec.evictionStrategy": "LiveMigrate"}`

// sizeFormWith is a valid new-size form carrying overrides.
func sizeFormWith(name, overrides string) url.Values {
	return url.Values{"name": {name}, "cpu_cores": {"2"}, "memory_gib": {"4"}, "disk_default_gb": {"100"}, "disk_min_gb": {"50"},
		"disk_max_gb": {"500"}, "enabled": {"on"}, "spec_overrides": {overrides}}
}

func TestCarolEditsSpecOverrides(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin/sizes/new")
	if status != http.StatusOK || !strings.Contains(body, `name="spec_overrides"`) || !strings.Contains(body, "Spec overrides (advanced)") ||
		!strings.Contains(body, `data-testid="overrides-example"`) || !strings.Contains(body, "sim-test-a (test, simulated)") {
		t.Fatalf("new size form lacks the overrides or the test: %d", status)
	}

	cases := []struct{ name, overrides, want string }{
		{"bad JSON", `{"spec.template.spec.domain.cpu.model": "host-passthrough",}`, "not valid JSON"},
		{"typo", `{"spec.template.spec.domain.cpu.dedicatdCpuPlacement": true}`, `field "dedicatdCpuPlacement" does not exist`},
		{"platform path", `{"spec.template.spec.domain.resources.limits.cpu": "64"}`, "set by the platform"},
		{"too many", manyOverrides(51), "At most 50 overrides (this has 51)"},
	}
	for _, tc := range cases {
		status, body, _ := carol.post(t, "/admin/sizes", sizeFormWith("tuned", tc.overrides))
		if msg := fieldError(body, "spec_overrides"); status != http.StatusUnprocessableEntity || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d, spec_overrides error %q, want %q", tc.name, status, msg, tc.want)
		}
		if got := html.UnescapeString(textareaValue(body, "spec_overrides")); got != tc.overrides {
			t.Errorf("%s: the typed overrides were not kept: %q", tc.name, got)
		}
	}
	if env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("tuned")).ExistX(ctx) {
		t.Fatal("a refused size was stored")
	}

	carol.mustRedirect(t, "/admin/sizes", sizeFormWith("tuned", goodOverrides))
	sz := env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("tuned")).OnlyX(ctx)
	if sz.SpecOverrides["spec.template.spec.domain.cpu.model"] != "host-passthrough" || sz.SpecOverrides["spec.template.spec.evictionStrategy"] != "LiveMigrate" {
		t.Fatalf("stored %v", sz.SpecOverrides)
	}
	_, body = carol.get(t, "/admin/sizes")
	row := rowOf(body, "tuned")
	if !strings.Contains(row, "2 spec overrides") || !strings.Contains(row, "<code>spec.template.spec.domain.cpu.model</code> = <code>&#34;host-passthrough&#34;</code>") {
		t.Errorf("list row does not show the overrides: %s", row)
	}
	if strings.Contains(rowOf(body, "small"), "spec override") {
		t.Error("a size without overrides shows some")
	}
	_, body = carol.get(t, "/admin/sizes/"+sz.ID.String()+"/edit")
	if got := html.UnescapeString(textareaValue(body, "spec_overrides")); !strings.Contains(got, "\"spec.template.spec.domain.cpu.model\": \"host-passthrough\",\n") {
		t.Errorf("edit form overrides %q", got)
	}
	a := env.App.Store.Ent.AuditLog.Query().Where(auditlog.Action("instance_size.create"), auditlog.ResourceName("tuned")).OnlyX(ctx)
	if ov, _ := a.Details["new"].(map[string]any)["spec_overrides"].(map[string]any); ov["spec.template.spec.evictionStrategy"] != "LiveMigrate" {
		t.Errorf("audit details %v", a.Details)
	}

	// Emptying the textarea removes the overrides.
	carol.mustRedirect(t, "/admin/sizes/"+sz.ID.String(), sizeFormWith("tuned", ""))
	if got := env.App.Store.Ent.InstanceSize.GetX(ctx, sz.ID).SpecOverrides; len(got) != 0 {
		t.Errorf("after emptying: %v", got)
	}
}

func manyOverrides(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"spec.template.spec.nodeSelector.label-`+strconv.Itoa(i)+`": "y"`)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// dryRun posts the form to "Test on cluster" as htmx does.
func (u *user) dryRun(t *testing.T, form url.Values, clusterID string) (int, string) {
	t.Helper()
	form.Set("dryrun_cluster", clusterID)
	status, body, _ := u.post(t, "/admin/sizes/dry-run", form)
	return status, body
}

func TestDryRunOnASimulatedClusterFromTheForm(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	sim := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("sim-test-a")).OnlyX(ctx)

	status, body := carol.dryRun(t, sizeFormWith("", goodOverrides), sim.ID.String())
	if status != http.StatusOK || !strings.Contains(body, `data-testid="dry-run-valid"`) ||
		!strings.Contains(body, "simulated cluster: checked against KubeVirt&#39;s types only") {
		t.Fatalf("dry run on sim-test-a: %d %s", status, body)
	}
	for _, want := range []string{"in namespace <code>dev</code>", "from template rocky-9 v1", `data-fact="cpu">2 cores, 2 (request = limit)`,
		`data-fact="memory">4Gi (request = limit)`, "<code>spec.template.spec.evictionStrategy</code> = <code>&#34;LiveMigrate&#34;</code>", "Nothing was saved or created"} {
		if !strings.Contains(body, want) {
			t.Errorf("result lacks %q", want)
		}
	}
	status, body = carol.dryRun(t, sizeFormWith("", `{"spec.template.spec.domain.cpu.modl": "x"}`), sim.ID.String())
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "fix the form first") || !strings.Contains(body, "Spec overrides: Spec override") ||
		!strings.Contains(body, "modl") {
		t.Errorf("dry run of a typo: %d %s", status, body)
	}
	status, body = carol.dryRun(t, sizeFormWith("", goodOverrides), "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Test on cluster: Choose the cluster to test on.") {
		t.Errorf("dry run without a cluster: %d %s", status, body)
	}
	if n := env.App.Store.Ent.InstanceSize.Query().CountX(ctx); n != len(seedSizes(t, env)) {
		t.Errorf("a dry run stored a size")
	}
	alice := signIn(t, env, "demo-alice")
	if status, _ := alice.dryRun(t, sizeFormWith("", goodOverrides), sim.ID.String()); status != http.StatusForbidden {
		t.Errorf("alice's dry run: %d", status)
	}
}

func seedSizes(t *testing.T, env *apptest.Env) []string {
	t.Helper()
	return env.App.Store.Ent.InstanceSize.Query().Select(instancesize.FieldName).StringsX(t.Context())
}

// TestDryRunOnTheTestClusterFromTheForm registers the run's real API server and tests a
// size on it: the demo namespace it lacks is reported with a hint, then (with no
// namespace registered for the environment) the sample VM is accepted in "default".
func TestDryRunOnTheTestClusterFromTheForm(t *testing.T) {
	shared := testcluster.FromEnv(t)
	kc, err := os.ReadFile(shared.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	carol.mustRedirect(t, "/admin/clusters", registerForm("kube-east", string(kc)))
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("kube-east")).OnlyX(ctx)
	if _, body := carol.get(t, "/admin/sizes/new"); !strings.Contains(body, "kube-east (test, KubeVirt "+testcluster.KubeVirtVersion+")") {
		t.Error("the real cluster is not offered for tests")
	}

	absent := missingNamespace(t, env)
	status, body := carol.dryRun(t, sizeFormWith("tuned", goodOverrides), k.ID.String())
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Not valid on kube-east.") ||
		!strings.Contains(body, "namespaces &#34;"+absent+"&#34; not found") || !strings.Contains(body, "kubectl create namespace "+absent) {
		t.Fatalf("dry run into a namespace the cluster lacks: %d %s", status, body)
	}

	env.App.Store.Ent.Namespace.Update().Where(namespace.EnvironmentEQ(namespace.EnvironmentTest)).SetEnabled(false).ExecX(ctx)
	status, body = carol.dryRun(t, sizeFormWith("tuned", goodOverrides), k.ID.String())
	if status != http.StatusOK || !strings.Contains(body, "Valid on kube-east</strong> (KubeVirt "+testcluster.KubeVirtVersion+")") ||
		!strings.Contains(body, "in namespace <code>default</code>") || !strings.Contains(body, "&#34;host-passthrough&#34;") {
		t.Fatalf("dry run of valid overrides: %d %s", status, body)
	}
	if env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("tuned")).ExistX(ctx) {
		t.Error("a dry run stored the size")
	}
}

// missingNamespace makes the dry-run's namespace one the shared test cluster cannot
// have: other packages' tests create the demo namespaces (dev, qa) on it. The demo's
// test namespaces are disabled and a uniquely named one takes their place.
func missingNamespace(t *testing.T, env *apptest.Env) string {
	t.Helper()
	ctx := t.Context()
	name := "aa" + strings.ToLower(rand.Text()[:6])
	env.App.Store.Ent.Namespace.Update().Where(namespace.EnvironmentEQ(namespace.EnvironmentTest)).SetEnabled(false).ExecX(ctx)
	env.App.Store.Ent.Namespace.Create().SetName(name).SetEnvironment(namespace.EnvironmentTest).ExecX(ctx)
	return name
}
