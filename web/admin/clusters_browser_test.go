package admin_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// TestClusterOnboardingInTheBrowser walks the register form (provider switch, Test
// connection through htmx with the CSRF header from <body>), a registration and the
// cluster page, on a desktop and a 390 px wide screen. With a test cluster it registers
// that; without one it checks a refused connection.
func TestClusterOnboardingInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	run := steps(t, ctx)
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.Navigate(env.URL+"/admin/clusters/new"),
		chromedp.WaitVisible(css(`[data-testid="cluster-form"]`)))...)
	if !visible(t, ctx, "#f-kubeconfig") || visible(t, ctx, "#f-gpu_devices") {
		t.Error("a KubeVirt registration shows hardware fields, or no kubeconfig field")
	}
	shot(t, ctx, "20-cluster-register")
	run("simulated", chromedp.Click(css(`[data-testid="provider-sim"]`)))
	if visible(t, ctx, "#f-kubeconfig") || !visible(t, ctx, "#f-gpu_devices") {
		t.Error("a simulated registration shows the kubeconfig, or no hardware fields")
	}
	run("back to kubevirt", chromedp.Click(css(`[data-testid="provider-kubevirt"]`)))

	run("refused connection",
		chromedp.SendKeys(css(`#f-name`), "kube-east"),
		chromedp.SetValue(css(`#f-environment`), "test"),
		chromedp.SetValue(css(`#f-kubeconfig`), kubeconfig(closedPort(t), tokenUser)),
		chromedp.Click(css(`[data-testid="test-connection"]`)),
		chromedp.WaitVisible(css(`[data-testid="connection-error"]`)))
	shot(t, ctx, "21-cluster-connection-refused")
	result, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="connection-result"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(result, "Connection test failed") || !strings.Contains(result, "connection refused") {
		t.Errorf("connection result %q", result)
	}
	shared := os.Getenv(testcluster.EnvKubeconfig)
	if shared == "" {
		t.Log("no test cluster: registering one is tested when SHEPHERD_TEST_KUBECONFIG is set")
		return
	}
	kc, err := os.ReadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	run("test connection",
		chromedp.SetValue(css(`#f-kubeconfig`), string(kc)),
		chromedp.Click(css(`[data-testid="test-connection"]`)),
		chromedp.WaitVisible(css(`[data-testid="connection-ok"]`)))
	shot(t, ctx, "21b-cluster-test-connection")
	if result, err = chromedp.Run(ctx, chromedp.Text(css(`[data-testid="connection-result"]`))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(result, "Connected to") || !strings.Contains(result, testcluster.KubeVirtVersion) {
		t.Fatalf("connection result %q", result)
	}
	run("register",
		chromedp.Click(css(`[data-testid="save"]`)),
		chromedp.WaitVisible(css(`[data-testid="health-history"]`)))
	shot(t, ctx, "22-cluster-page")
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("kube-east")).OnlyX(t.Context())
	if k.Status != cluster.StatusHEALTHY {
		t.Errorf("registered cluster is %s", k.Status)
	}
	run("list", chromedp.Navigate(env.URL+"/admin/clusters"), chromedp.WaitVisible(css(`[data-testid="clusters"]`)))
	shot(t, ctx, "22b-cluster-list")
	run("page again", chromedp.Click(css(`[data-testid="cluster-link-kube-east"]`)), chromedp.WaitVisible(css(`[data-testid="health-history"]`)))
	run("rotate open", chromedp.Click(css(`[data-testid="rotate"] > summary`)), chromedp.WaitVisible(css(`[data-testid="rotate-submit"]`)))
	shot(t, ctx, "23-cluster-rotate")
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(env.URL+"/admin/clusters/"+k.ID.String()),
		chromedp.WaitVisible(css(`[data-testid="health-history"]`)))
	shot(t, ctx, "24-cluster-page-390")
	// The page's own content fits (wide tables scroll inside their .table-wrap).
	culprits, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('main *'))
		.filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
		.slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
	if err != nil {
		t.Fatal(err)
	}
	if culprits != "" {
		t.Errorf("the cluster page is wider than 390 px: %s", culprits)
	}
	run("phone list", chromedp.Navigate(env.URL+"/admin/clusters/new"), chromedp.WaitVisible(css(`[data-testid="cluster-form"]`)))
	shot(t, ctx, "25-cluster-register-390")
}
