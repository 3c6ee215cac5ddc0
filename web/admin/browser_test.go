package admin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// browser starts headless Chromium (as internal/e2e does) for one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if lp, err := exec.LookPath("chromium"); err == nil {
			path = lp
		}
	}
	if path == "" {
		if os.Getenv("SHEPHERD_REQUIRE_BROWSER") != "" {
			t.Fatal("Chromium is required for browser tests: apt-get install -y chromium")
		}
		t.Skip("Chromium not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Flag("no-sandbox", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser; must not carry a timeout
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return tctx
}

// shot saves a full-page PNG when SHEPHERD_SCREENSHOTS names a directory.
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("SHEPHERD_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, "admin-"+name+".png"), buf, 0o644)
}

func visible(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var e=document.querySelector('`+sel+`');return !!e && e.offsetParent!==null})()`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestAdminPagesInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	run := steps(t, ctx)
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.Click(css(`[data-nav="admin"]`)),
		chromedp.WaitVisible(css(`[data-testid="card-templates"]`)))...)
	shot(t, ctx, "01-home")

	run("namespaces", chromedp.Click(css(`[data-admin-tab="namespaces"]`)), chromedp.WaitVisible(css(`[data-testid="namespaces"]`)))
	shot(t, ctx, "02-namespaces")
	run("invalid namespace",
		chromedp.Click(css(`[data-testid="new-namespace"]`)),
		chromedp.WaitVisible(css(`#f-name`)),
		chromedp.SendKeys(css(`#f-name`), "Team Alpha"),
		chromedp.Click(css(`[data-testid="save"]`)),
		chromedp.WaitVisible(css(`[data-testid="form-errors"]`)))
	shot(t, ctx, "03-namespace-errors")
	nameValue, err := chromedp.Run(ctx, chromedp.Value(css(`#f-name`)))
	if err != nil || nameValue != "Team Alpha" {
		t.Errorf("typed name not kept: %q", nameValue)
	}

	run("clusters", chromedp.Click(css(`[data-admin-tab="clusters"]`)), chromedp.WaitVisible(css(`[data-testid="clusters"]`)))
	shot(t, ctx, "04-clusters")
	run("cluster form", chromedp.Click(css(`[data-testid="new-cluster"]`)), chromedp.WaitVisible(css(`[data-testid="cluster-form"]`)))
	shot(t, ctx, "05-cluster-form")

	run("sizes", chromedp.Click(css(`[data-admin-tab="sizes"]`)), chromedp.WaitVisible(css(`[data-testid="sizes"]`)))
	shot(t, ctx, "06-sizes")
	run("size form", chromedp.Click(css(`[data-testid="new-size"]`)), chromedp.WaitVisible(css(`[data-testid="size-form"]`)))
	if visible(t, ctx, "#f-cpu_request") {
		t.Error("CPU request shown while overcommit is off")
	}
	run("overcommit on", chromedp.Click(css(`#f-cpu_overcommit`), chromedp.NodeVisible))
	if !visible(t, ctx, "#f-cpu_request") {
		t.Fatal("CPU request hidden after switching overcommit on")
	}
	run("dedicated + overcommit",
		chromedp.SendKeys(css(`#f-name`), "pinned"),
		chromedp.SendKeys(css(`#f-cpu_request`), "1"),
		chromedp.Click(css(`#f-dedicated_cpu`), chromedp.NodeVisible),
		chromedp.Click(css(`[data-testid="save"]`)),
		chromedp.WaitVisible(css(`[data-testid="form-errors"]`)))
	dedicatedErr, err := chromedp.Run(ctx, chromedp.Text(css(`#f-dedicated_cpu-help`)))
	if err != nil || !strings.Contains(dedicatedErr, "Guaranteed QoS") {
		t.Errorf("dedicated CPU error %q", dedicatedErr)
	}
	shot(t, ctx, "07-size-errors")
	gpu := env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("gpu-a10")).OnlyX(t.Context())
	run("gpu size", chromedp.Navigate(env.URL+"/admin/sizes/"+gpu.ID.String()+"/edit"), chromedp.WaitVisible(css(`[data-testid="gpu-rows"]`)))
	shot(t, ctx, "07b-size-gpu")

	run("templates", chromedp.Click(css(`[data-admin-tab="templates"]`)), chromedp.WaitVisible(css(`[data-testid="templates"]`)))
	shot(t, ctx, "08-templates")
	debian := env.App.Store.Ent.Template.Query().Where(template.Name("debian-12")).OnlyX(t.Context())
	run("draft", chromedp.Navigate(env.URL+"/admin/templates/"+debian.ID.String()), chromedp.WaitVisible(css(`[data-testid="template-form"]`)))
	if visible(t, ctx, "#f-pvc_name") {
		t.Error("PVC fields shown for a container disk template")
	}
	shot(t, ctx, "09-template-draft")
	run("publish", chromedp.Click(css(`[data-testid="publish"]`)), chromedp.WaitVisible(css(`[data-testid="template-readonly"]`)))
	shot(t, ctx, "10-template-active")
	if st := env.App.Store.Ent.Template.GetX(t.Context(), debian.ID).Status; st != template.StatusActive {
		t.Errorf("debian is %s after Publish", st)
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// steps returns a runner of named steps: a failing step ends the test with its name.
func steps(t *testing.T, ctx context.Context) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
}

// signInCarol signs the platform admin in through the development issuer.
func signInCarol(url string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible(css(`[data-testid="sso-login"]`)),
		chromedp.Click(css(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(css(`[data-testid="pick-carol"]`)),
		chromedp.Click(css(`[data-testid="pick-carol"]`)),
		chromedp.WaitVisible(css(`[data-testid="capabilities"]`)),
	}
}

// fitsPhone fails when the page is wider than a 390 px screen, naming what sticks out.
// Wide tables scroll inside their .table-wrap; nothing may widen the page itself.
func fitsPhone(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	culprits, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('main *'))
		.filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
		.slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
	if err != nil {
		t.Fatal(err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 || culprits != "" {
		t.Errorf("%s is wider than 390 px: %d px (%s)", page, width, culprits)
	}
}
