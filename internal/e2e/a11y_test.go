package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestEveryPageIsAccessible walks the portal as each demo role (issue 10, part 5): from
// the dashboard it follows every link of the portal's own pages, and on each kind of page
// (paths with their ids replaced, query keys kept) it runs axe-core and keeps the HTML the
// server sent. Any serious or critical axe violation fails the test, and so does any error
// the Nu HTML checker (vnu-jar, one run over all pages) finds in that HTML. Forms shown with
// server-side errors are checked the same way.
func TestEveryPageIsAccessible(t *testing.T) {
	root := repoRoot(t)
	axeSrc, err := os.ReadFile(filepath.Join(root, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (make assets installs it from npm): %v", err)
	}
	jar := filepath.Join(root, "node_modules", "vnu-jar", "build", "dist", "vnu.jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("vnu-jar is missing (make assets installs it from npm): %v", err)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("SHEPHERD_REQUIRE_BROWSER") != "" {
			t.Fatal("the Nu HTML checker needs Java: apt-get install -y default-jre-headless")
		}
		t.Skip("Java not installed (apt-get install -y default-jre-headless); make test requires it")
	}

	env := apptest.Start(t)
	bg := context.Background()
	vm := demoVM(t, env)
	pending, _, err := testorg.DemoTicket(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Namespace: "qa",
		Reason: "a second wiki for the acceptance tests"})
	if err != nil {
		t.Fatal(err)
	}
	batchChild, _, err := testorg.DemoTicket(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Namespace: "dev",
		Reason: "three wikis for the training week", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	batchID := batchChild.BatchID.String()
	ctx := browserFor(t, 8*time.Minute)
	c := &checker{t: t, ctx: ctx, env: env, axe: string(axeSrc), dir: t.TempDir()}

	// Before sign-in: the sign-in page and the development issuer's picker.
	c.visit("/login", "anonymous")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="sso-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="pick-alice"]`))))
	c.check("dev-issuer", "anonymous", true)

	for _, role := range []string{"alice", "bob", "victor", "dana", "carol"} {
		signIn(t, ctx, env, role)
		c.crawl(role, []string{
			"/",
			"/vms/" + vm.ID.String(),
			"/requests/" + pending.ID.String(),
			"/approvals/" + pending.ID.String(),
			"/batches/" + batchID,
			"/approvals/batches/" + batchID,
			"/vms/00000000-0000-0000-0000-000000000000",
			"/admin",
		})
		switch role {
		case "alice":
			c.invalidSubmit("alice", "/requests/new", "", "", `[data-testid="submit-request"]`)
			c.focusRings("alice", "/requests/new", 14)
		case "bob":
			c.focusRings("bob", "/", 16)
			// Batch rejection without the reason: the inbox again, with its error summary.
			c.batchStep("bob", "/approvals", `input[name="ticket"]`, `[data-testid="batch-reject-open"]`, `[data-testid="batch-reject"]`, "inbox batch reject form")
			must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="batch-reject"]`)), chromedp.WaitVisible(chromedp.CSS(`.error-summary`))))
			c.check("inbox batch reject refused", "bob", false)
		case "dana":
			c.invalidSubmit("dana", "/systems/new", `#f-name`, "Bad Name!", `[data-testid="create-system"]`)
			// A batch delete's confirmation page, then submitted without the tick.
			c.batchStep("dana", "/vms", `input[name="vm"]`, `[data-testid="batch-delete"]`, `[data-testid="batch-delete-form"]`, "vm batch delete")
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			if err := chromedp.Do(sctx, chromedp.Click(chromedp.CSS(`[data-testid="batch-delete-submit"]`)), chromedp.WaitVisible(chromedp.CSS(`.error-summary`))); err != nil {
				t.Errorf("dana: the refused batch delete shows no error summary: %v", err)
			} else {
				c.check("vm batch delete refused", "dana", false)
			}
			cancel()
		}
		signOut(t, ctx)
	}
	c.vnu(java, jar)
	var names []string
	for _, n := range c.pages {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("checked %d pages:\n%s", len(names), strings.Join(names, "\n"))
}

// checker walks pages and collects what axe and the Nu checker find.
type checker struct {
	t     *testing.T
	ctx   context.Context
	env   *apptest.Env
	axe   string
	dir   string
	pages map[string]string // saved HTML file → what it is
}

// skipped are links the walk does not follow: River's own UI, streams, sign-out, files.
var skipped = regexp.MustCompile(`^/(static/|events|metrics|admin/jobs|logout|auth/)|/(export|download)(\?|$)|\.(csv|json)(\?|$)`)

var (
	uuidPart = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	numPart  = regexp.MustCompile(`/[0-9]+(/|$)`)
)

// kind is what makes two URLs the same page: the path with ids replaced and the query's keys.
func kind(u *url.URL) string {
	p := numPart.ReplaceAllString(uuidPart.ReplaceAllString(u.Path, "{id}"), "/{n}$1")
	var keys []string
	for k := range u.Query() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return p + "?" + strings.Join(keys, "&")
}

// crawl checks the start pages and every page reachable from them by the portal's own
// links, once per kind of page and role (what a page shows depends on who asks).
func (c *checker) crawl(role string, start []string) {
	c.t.Helper()
	queue := append([]string(nil), start...)
	done := map[string]bool{}
	for len(queue) > 0 && len(done) < 60 {
		path := queue[0]
		queue = queue[1:]
		u, err := url.Parse(path)
		if err != nil || skipped.MatchString(path) {
			continue
		}
		k := kind(u)
		if done[k] {
			continue
		}
		done[k] = true
		c.visit(path, role)
		links, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('a[href]'))
			.map(a => a.getAttribute('href')).filter(h => h.startsWith('/') && !h.startsWith('//'))`))
		if err != nil {
			c.t.Fatalf("%s %s: links: %v", role, path, err)
		}
		queue = append(queue, links...)
	}
}

// visit opens path and checks it.
func (c *checker) visit(path, role string) {
	c.t.Helper()
	must(c.t, chromedp.Do(c.ctx, chromedp.Navigate(c.env.URL+path), chromedp.WaitReady(chromedp.CSS("body"))))
	c.check(path, role, true)
}

// check runs axe-core on the open page and saves its HTML for the Nu checker: the HTML
// the server sends for the page's URL when fromServer, else the document as it stands
// (a form answered with errors has no URL that shows it again).
func (c *checker) check(name, role string, fromServer bool) {
	c.t.Helper()
	// Let htmx settle (live fragments, deferred scripts).
	time.Sleep(150 * time.Millisecond)
	type node struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
		Fail   string `json:"failureSummary"`
	}
	type violation struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []node `json:"nodes"`
	}
	if _, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](c.axe+";true")); err != nil {
		c.t.Fatalf("%s: load axe-core: %v", name, err)
	}
	res, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("%s: run axe-core: %v", name, err)
	}
	var vs []violation
	if err := json.Unmarshal([]byte(res), &vs); err != nil {
		c.t.Fatal(err)
	}
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		for _, n := range v.Nodes {
			c.t.Errorf("axe %s as %s: %s (%s) at %v: %s\n    %s", name, role, v.ID, v.Impact, n.Target, v.Help, n.HTML)
		}
	}
	// Words, not codes: no NAME_TAKEN or PENDING_APPROVAL in what people read (codes live
	// in title attributes).
	codes, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](`(document.querySelector('main') || document.body).innerText.match(/\b[A-Z]+(?:_[A-Z]+)+\b/g) || []`))
	if err != nil {
		c.t.Fatal(err)
	}
	if len(codes) > 0 {
		c.t.Errorf("%s as %s shows codes to people: %v", name, role, codes)
	}
	js := `'<!DOCTYPE html>\n' + document.documentElement.outerHTML`
	if fromServer {
		js = `fetch(location.href, {credentials: 'same-origin'}).then(r => r.text())`
	}
	html, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("%s: page source: %v", name, err)
	}
	if c.pages == nil {
		c.pages = map[string]string{}
	}
	file := filepath.Join(c.dir, fmt.Sprintf("page-%03d.html", len(c.pages)))
	if err := os.WriteFile(file, []byte(html), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.pages[file] = role + " " + name
}

// batchStep opens a list, ticks its first box, presses a batch action and checks the page
// it leads to (a POST answer: checked as the document stands).
func (c *checker) batchStep(role, path, box, button, want, name string) {
	c.t.Helper()
	wctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	err := chromedp.Do(wctx, chromedp.Navigate(c.env.URL+path), chromedp.WaitVisible(chromedp.CSS(box)),
		chromedp.Click(chromedp.CSS(box)), chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(want)))
	if err != nil {
		c.t.Errorf("%s: %s: %v", role, name, err)
		return
	}
	c.check(name, role, false)
}

// invalidSubmit opens a form, fills one field with a value the server refuses (when
// field is set), submits it and checks the answer: an error summary that has focus and
// links to each field, a title starting "Error:", and no accessibility faults.
func (c *checker) invalidSubmit(role, path, field, value, submit string) {
	c.t.Helper()
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(c.env.URL + path), chromedp.WaitVisible(chromedp.CSS(submit))}
	if field != "" {
		actions = append(actions, chromedp.SendKeys(chromedp.CSS(field), value))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(submit)), chromedp.WaitVisible(chromedp.CSS(`.error-summary`)))
	wctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, actions...); err != nil {
		screenshot(c.t, c.ctx, "error-summary-missing-"+role)
		c.t.Errorf("%s: invalid submit of %s: %v", role, path, err)
		return
	}
	screenshot(c.t, c.ctx, "error-summary-"+role)
	state, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`(function(){
		const s = document.querySelector('.error-summary');
		const links = Array.from(s.querySelectorAll('a[href^="#"]'));
		const broken = links.filter(a => !document.getElementById(a.getAttribute('href').slice(1)));
		return [document.activeElement === s || s.contains(document.activeElement) ? 'focus' : 'no focus: ' + document.activeElement.tagName,
			document.title.startsWith('Error: ') ? 'title' : 'title ' + document.title,
			links.length > 0 && broken.length === 0 ? 'links' : 'links ' + links.length + ' broken ' + broken.length].join('|');
	})()`))
	if err != nil {
		c.t.Fatal(err)
	}
	if state != "focus|title|links" {
		c.t.Errorf("%s: the error summary after an invalid submit of %s: %s", role, path, state)
	}
	c.check("invalid "+path, role, false)
}

// focusRings tabs through the first n stops of a page and fails when one has no visible
// focus ring: at least 2 px of outline with a contrast of 3:1 against what is behind it.
func (c *checker) focusRings(role, path string, n int) {
	c.t.Helper()
	must(c.t, chromedp.Do(c.ctx, chromedp.Navigate(c.env.URL+path), chromedp.WaitReady(chromedp.CSS("body"))))
	for i := 0; i < n; i++ {
		must(c.t, chromedp.Do(c.ctx, chromedp.KeyEvent(kb.Tab)))
		got, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](focusRingJS))
		if err != nil {
			c.t.Fatal(err)
		}
		if got != "" && !strings.HasPrefix(got, "ok") {
			c.t.Errorf("%s %s, tab stop %d: %s", role, path, i+1, got)
		}
		if i == 3 {
			screenshot(c.t, c.ctx, "focus-"+role)
		}
	}
}

// focusRingJS describes the focused element's ring: "ok …" when it is at least 2 px wide
// and has a 3:1 contrast against the first opaque background behind the element.
const focusRingJS = `(function(){
	const e = document.activeElement;
	if (!e || e === document.body) return '';
	const parse = s => { const m = s.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
	const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
	let bg = {r: 255, g: 255, b: 255, a: 1};
	for (let p = e.parentElement; p; p = p.parentElement) {
		const c = parse(getComputedStyle(p).backgroundColor);
		if (c.a > 0.5) { bg = c; break; }
	}
	const s = getComputedStyle(e);
	const name = e.tagName + (e.id ? '#' + e.id : '') + ' "' + (e.textContent || e.value || '').trim().slice(0, 30) + '"';
	if (s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2) return name + ': no outline (' + s.outlineStyle + ' ' + s.outlineWidth + ')';
	let o = parse(s.outlineColor);
	o = {r: o.r * o.a + bg.r * (1 - o.a), g: o.g * o.a + bg.g * (1 - o.a), b: o.b * o.a + bg.b * (1 - o.a)};
	const l1 = lum(o), l2 = lum(bg);
	const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
	return (ratio >= 3 ? 'ok ' : '') + name + ': outline ' + s.outlineColor + ' on ' + JSON.stringify(bg) + ' = ' + ratio.toFixed(2) + ':1';
})()`

// vnu runs the Nu HTML checker once over every saved page and fails on each error.
func (c *checker) vnu(java, jar string) {
	c.t.Helper()
	var files []string
	for f := range c.pages {
		files = append(files, f)
	}
	sort.Strings(files)
	// The report goes to stderr unless --stdout.
	args := append([]string{"-Xss4m", "-jar", jar, "--errors-only", "--format", "json", "--exit-zero-always", "--stdout"}, files...)
	out, err := exec.Command(java, args...).Output()
	if err != nil {
		c.t.Fatalf("vnu: %v", err)
	}
	var report struct {
		Messages []struct {
			URL     string `json:"url"`
			Type    string `json:"type"`
			Line    int    `json:"lastLine"`
			Message string `json:"message"`
			Extract string `json:"extract"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		c.t.Fatalf("vnu report: %v\n%s", err, out)
	}
	for _, m := range report.Messages {
		file := strings.TrimPrefix(m.URL, "file:")
		c.t.Errorf("Nu %s (line %d): %s\n    %s", c.pages[file], m.Line, m.Message, strings.TrimSpace(m.Extract))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// repoRoot is the directory holding go.mod (tests run in their package's directory).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}
