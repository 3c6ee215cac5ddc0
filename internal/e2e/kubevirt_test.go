package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/cluster"
	entvm "kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// kubectlVM is what `kubectl get vm -o json` says about a VirtualMachine.
type kubectlVM struct {
	Metadata struct {
		Labels        map[string]string `json:"labels"`
		ManagedFields []struct {
			Manager   string `json:"manager"`
			Operation string `json:"operation"`
		} `json:"managedFields"`
	} `json:"metadata"`
	Spec struct {
		RunStrategy string `json:"runStrategy"`
	} `json:"spec"`
	Status struct {
		PrintableStatus string `json:"printableStatus"`
	} `json:"status"`
}

// getVM asks kubectl, as an operator would, for the VM; ok is false when it does not exist.
func getVM(t *testing.T, shared *testcluster.Shared, ns, name string) (kubectlVM, bool) {
	t.Helper()
	out, err := shared.Kubectl(t, "get", "vm", "-n", ns, name, "-o", "json", "--show-managed-fields")
	if err != nil {
		if strings.Contains(out, "NotFound") || strings.Contains(out, "not found") {
			return kubectlVM{}, false
		}
		t.Fatalf("kubectl get vm: %v\n%s", err, out)
	}
	var vm kubectlVM
	if err := json.Unmarshal([]byte(out), &vm); err != nil {
		t.Fatalf("kubectl output: %v\n%s", err, out)
	}
	return vm, true
}

// TestVMOnRealKubeVirtInTheBrowser is the governance journey on the kubevirt provider:
// dana requests a VM, bob approves it onto kube-test (a real API server with the
// test cluster's stand-in KubeVirt), kubectl sees the VirtualMachine with Shepherd's
// labels and field manager, the portal shows it RUNNING, dana stops it, and a deletion
// bob approves removes it from the cluster.
func TestVMOnRealKubeVirtInTheBrowser(t *testing.T) {
	shared := testcluster.FromEnv(t)
	env := apptest.Start(t, func(c *config.Config) { c.DevKubeconfig = shared.KubeconfigPath })
	db := env.App.Store.Ent
	bg := context.Background()
	// The health check at start-up reaches the cluster and detects what it offers.
	waitDB(t, "kube-test healthy", func() bool {
		k, err := db.Cluster.Query().Where(cluster.Name(seed.DevKubeClusterName)).Only(bg)
		return err == nil && k.Status == cluster.StatusHEALTHY && len(k.StorageClasses) > 0
	})
	k := db.Cluster.Query().Where(cluster.Name(seed.DevKubeClusterName)).OnlyX(bg)
	if k.DefaultStorageClass != "standard" || !strings.HasPrefix(k.KubevirtVersion, "v1.9.0") {
		t.Errorf("detected capabilities: default storage class %q, KubeVirt %q", k.DefaultStorageClass, k.KubevirtVersion)
	}

	ctx := browser(t)
	signIn(t, ctx, env, "dana")
	createSystemAndService(t, ctx, env)
	reqURL := requestVM(t, ctx, env, "alpha / api", "small", "A VM on a real Kubernetes API server", "")
	signOut(t, ctx)
	signIn(t, ctx, env, "bob")
	approveCreate(t, ctx, env, reqURL, seed.DevKubeClusterName)
	signOut(t, ctx)

	const ns, name = "dev", "dev-alpha-api-01"
	signIn(t, ctx, env, "dana")
	openVM(t, ctx, env, name)
	waitFor(t, ctx, vmStatus("RUNNING"), 90*time.Second)
	screenshot(t, ctx, "40-kube-vm-running")

	vm, ok := getVM(t, shared, ns, name)
	if !ok {
		t.Fatalf("kubectl does not find %s/%s", ns, name)
	}
	for key, want := range map[string]string{
		"kubevirt-shepherd.io/managed-by": "kubevirt-shepherd",
		"kubevirt-shepherd.io/system":     "alpha",
		"kubevirt-shepherd.io/service":    "api",
		"kubevirt-shepherd.io/hostname":   name,
	} {
		if vm.Metadata.Labels[key] != want {
			t.Errorf("label %s = %q, want %q", key, vm.Metadata.Labels[key], want)
		}
	}
	applied := false
	for _, mf := range vm.Metadata.ManagedFields {
		applied = applied || (mf.Manager == "kubevirt-shepherd" && mf.Operation == "Apply")
	}
	if !applied || vm.Spec.RunStrategy != "Always" || vm.Status.PrintableStatus != "Running" {
		t.Errorf("VM on the cluster: managed fields %+v, runStrategy %q, status %q",
			vm.Metadata.ManagedFields, vm.Spec.RunStrategy, vm.Status.PrintableStatus)
	}

	// The console takes the real path: Shepherd → API server aggregation → the stand-in
	// virt-api's vnc subresource (plain.kubevirt.io) → an RFB server.
	kubeConsole(t, ctx, env)

	// Stop: a test VM stops at once, through virt-api's stop subresource.
	waitFor(t, ctx, `#vm-live[data-polling="false"] [data-testid="power-stop"]`, 20*time.Second)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="power-stop"]`))); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitFor(t, ctx, vmStatus("STOPPED"), 60*time.Second)
	screenshot(t, ctx, "41-kube-vm-stopped")
	if vm, _ := getVM(t, shared, ns, name); vm.Spec.RunStrategy != "Halted" {
		t.Errorf("after stop the cluster's runStrategy is %q", vm.Spec.RunStrategy)
	}

	// Deletion needs an approver.
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="delete-zone"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="delete-confirm"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="delete-confirm"]`)),
		chromedp.SendKeys(chromedp.CSS(`#f-delete_reason`), "Done with the real-cluster check."),
		chromedp.Click(chromedp.CSS(`[data-testid="request-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pending-op"]`)),
	)
	if err != nil {
		t.Fatalf("request delete: %v", err)
	}
	deleteID := pendingTicket(t, ctx)
	signOut(t, ctx)
	signIn(t, ctx, env, "bob")
	approveOperation(t, ctx, env, deleteID, "", "")
	signOut(t, ctx)
	signIn(t, ctx, env, "dana")
	row := db.VM.Query().Where(entvm.Name(name)).OnlyX(bg)
	err = chromedp.Do(ctx, chromedp.Navigate(env.URL+"/vms/"+row.ID.String()), chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-live"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, vmStatus("DELETED"), 60*time.Second)
	screenshot(t, ctx, "42-kube-vm-deleted")
	if _, ok := getVM(t, shared, ns, name); ok {
		t.Errorf("%s/%s still exists on the cluster after the approved deletion", ns, name)
	}
	assertNoSecrets(t, env, shared)
}

// kubeConsole opens the VM's console from its page, waits for a painted framebuffer,
// types a login and sees the screen change, then disconnects.
func kubeConsole(t *testing.T, ctx context.Context, env *apptest.Env) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="open-console"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#console[data-ready="true"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="console-connect"]`)),
	)
	if err != nil {
		t.Fatalf("open the console: %v", err)
	}
	waitConsoleState(t, ctx, "connected", 30*time.Second)
	const digest = `(() => { const c = document.querySelector('#console-screen canvas'); if (!c || !c.width) return '';
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lit = 0, h = 0;
		for (let i = 0; i < d.length; i += 4) { const v = d[i] + d[i+1] + d[i+2]; if (v > 60) lit++; h = (h * 31 + v) | 0; }
		return lit + ':' + h; })()`
	var before string
	deadline := time.Now().Add(20 * time.Second)
	for { // the boot log finishes printing, then the screen stays still
		d1, _ := chromedp.Run(ctx, chromedp.Evaluate[string](digest))
		time.Sleep(700 * time.Millisecond)
		d2, _ := chromedp.Run(ctx, chromedp.Evaluate[string](digest))
		if d1 == d2 && d1 != "" && !strings.HasPrefix(d1, "0:") {
			before = d2
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console never settled on a painted screen (%q, %q)", d1, d2)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#console-screen canvas`)),
		chromedp.KeyEvent("root\n"),
	)
	if err != nil {
		t.Fatalf("type into the console: %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		after, _ := chromedp.Run(ctx, chromedp.Evaluate[string](digest))
		if after != before && after != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("typing into the console changed nothing on the screen")
		}
		time.Sleep(100 * time.Millisecond)
	}
	screenshot(t, ctx, "43-kube-console")
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="console-disconnect"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitConsoleState(t, ctx, "closed", 10*time.Second)
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav[aria-label="breadcrumb"] li:nth-child(4) a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="vm-live"]`)))
	if err != nil {
		t.Fatalf("back to the VM page: %v", err)
	}
}

// assertNoSecrets: the test cluster's credentials appear in no log line, audit row or
// page the journey produced.
func assertNoSecrets(t *testing.T, env *apptest.Env, shared *testcluster.Shared) {
	t.Helper()
	for _, secret := range shared.Secrets(t) {
		if strings.Contains(env.Logs.String(), secret) {
			t.Errorf("the log contains a credential of the test cluster")
		}
		rows, err := env.App.Pool.Query(context.Background(), `SELECT count(*) FROM audit_logs WHERE details::text LIKE '%' || $1 || '%'`, secret)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for rows.Next() {
			_ = rows.Scan(&n)
		}
		rows.Close()
		if n > 0 {
			t.Errorf("%d audit rows contain a credential of the test cluster", n)
		}
	}
}
