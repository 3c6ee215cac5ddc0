package admin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// TestSpecOverridesInTheBrowser edits a size's overrides on a 390 px wide screen: a
// typo is named under the textarea, "Test on cluster" (htmx, CSRF from <body>) answers
// in words on a simulated cluster, and the saved overrides show in the list.
func TestSpecOverridesInTheBrowser(t *testing.T) {
	env := apptest.Start(t)
	ctx := browser(t)
	run := steps(t, ctx)
	fits := func(page string) { t.Helper(); fitsPhone(t, ctx, page) }
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	medium := env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("medium")).OnlyX(t.Context())
	run("sign in as carol", append(signInCarol(env.URL),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(env.URL+"/admin/sizes/"+medium.ID.String()+"/edit"),
		chromedp.WaitVisible(css(`[data-testid="spec-overrides"]`)))...)
	fits("the size form")

	run("test a typo",
		chromedp.SetValue(css(`#f-spec_overrides`), `{"spec.template.spec.domain.cpu.modle": "host-passthrough"}`),
		chromedp.ScrollIntoView(css(`[data-testid="dry-run"]`)),
		chromedp.Click(css(`[data-testid="dry-run"]`)),
		chromedp.WaitVisible(css(`[data-testid="dry-run-form-problems"]`)))
	if got := text(`[data-testid="dry-run-result"]`); !strings.Contains(got, `"modle" does not exist`) {
		t.Errorf("dry run of a typo says %q", got)
	}
	run("save the typo",
		chromedp.Click(css(`[data-testid="save"]`)),
		chromedp.WaitVisible(css(`#f-spec_overrides-help.field-error`)),
		chromedp.ScrollIntoView(css(`#f-spec_overrides`)))
	shot(t, ctx, "40-size-override-typo-390")
	shotOf(t, ctx, "40b-size-override-typo-390", `[data-testid="spec-overrides"]`)
	if got := text(`#f-spec_overrides-help`); !strings.Contains(got, `field "modle" does not exist`) {
		t.Errorf("field error %q", got)
	}
	fits("the size form with errors")

	run("test good overrides on sim-test-a",
		chromedp.SetValue(css(`#f-spec_overrides`), goodOverrides),
		chromedp.ScrollIntoView(css(`[data-testid="dry-run"]`)),
		chromedp.Click(css(`[data-testid="dry-run"]`)),
		chromedp.WaitVisible(css(`[data-testid="dry-run-valid"]`)),
		chromedp.ScrollIntoView(css(`[data-testid="dry-run-result"]`)))
	shot(t, ctx, "41-size-dry-run-390")
	shotOf(t, ctx, "41b-size-dry-run-390", `[data-testid="spec-overrides"]`)
	got := text(`[data-testid="dry-run-result"]`)
	for _, want := range []string{"simulated cluster: checked against KubeVirt's types only", "host-passthrough", "2 cores, request 1, limit 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run result lacks %q: %q", want, got)
		}
	}
	fits("the size form with a dry-run result")

	if shared := os.Getenv(testcluster.EnvKubeconfig); shared != "" {
		// A namespace the run's test cluster lacks: the refusal reads as such.
		kc, err := os.ReadFile(shared)
		if err != nil {
			t.Fatal(err)
		}
		signIn(t, env, "demo-carol").mustRedirect(t, "/admin/clusters", registerForm("kube-east", string(kc)))
		absent := missingNamespace(t, env)
		k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("kube-east")).OnlyX(t.Context())
		run("test on the real cluster",
			chromedp.Reload(),
			chromedp.WaitVisible(css(`[data-testid="spec-overrides"]`)),
			chromedp.SetValue(css(`#f-spec_overrides`), goodOverrides),
			chromedp.SetValue(css(`#f-dryrun_cluster`), k.ID.String()),
			chromedp.ScrollIntoView(css(`[data-testid="dry-run"]`)),
			chromedp.Click(css(`[data-testid="dry-run"]`)),
			chromedp.WaitVisible(css(`[data-testid="dry-run-invalid"]`)),
			chromedp.ScrollIntoView(css(`[data-testid="dry-run-result"]`)))
		shotOf(t, ctx, "41c-size-dry-run-missing-namespace-390", `[data-testid="dry-run-result"]`)
		if got := text(`[data-testid="dry-run-result"]`); !strings.Contains(got, `namespaces "`+absent+`" not found`) || !strings.Contains(got, "kubectl create namespace "+absent) {
			t.Errorf("missing namespace result %q", got)
		}
		fits("the size form with a refusal")
		run("back to the good overrides", chromedp.SetValue(css(`#f-spec_overrides`), goodOverrides))
	}

	run("save", chromedp.Click(css(`[data-testid="save"]`)), chromedp.WaitVisible(css(`[data-testid="sizes"]`)),
		chromedp.Click(css(`tr[data-row="medium"] [data-testid="size-overrides"] > summary`)))
	shot(t, ctx, "42-size-list-overrides-390")
	shotOf(t, ctx, "42b-size-list-overrides-390", `[data-testid="sizes"]`)
	if got := text(`tr[data-row="medium"] [data-testid="size-overrides"]`); !strings.Contains(got, "spec.template.spec.evictionStrategy") {
		t.Errorf("list shows %q", got)
	}
	run("desktop", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(env.URL+"/admin/sizes/"+medium.ID.String()+"/edit"),
		chromedp.WaitVisible(css(`[data-testid="spec-overrides"]`)), chromedp.ScrollIntoView(css(`[data-testid="spec-overrides"]`)))
	shot(t, ctx, "43-size-overrides-desktop")
	shotOf(t, ctx, "43b-size-overrides-desktop", `[data-testid="spec-overrides"]`)
	run("desktop list", chromedp.Navigate(env.URL+"/admin/sizes"), chromedp.WaitVisible(css(`[data-testid="sizes"]`)),
		chromedp.Click(css(`tr[data-row="medium"] [data-testid="size-overrides"] > summary`)))
	shotOf(t, ctx, "44-size-list-overrides-desktop", `[data-testid="sizes"]`)
}

// shotOf saves one element as a PNG when SHEPHERD_SCREENSHOTS names a directory: a
// full page at 390 px is too tall to judge a section by.
func shotOf(t *testing.T, ctx context.Context, name, sel string) {
	dir := os.Getenv("SHEPHERD_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(css(sel)))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, "admin-"+name+".png"), buf, 0o644)
}
