package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestMainPagesOnAPhone opens the main pages on a 390×844 screen (issue 10, part 4): the
// page never scrolls sideways, the navigation is folded behind a Menu toggle that opens
// with the keyboard, the bell and the account menu stay in reach, filters are folded, and
// what a row is for (its name, status and main action) is on screen. At 1280 px the
// navigation and the filters are shown as before.
func TestMainPagesOnAPhone(t *testing.T) {
	env := apptest.Start(t)
	bg := context.Background()
	vm := demoVM(t, env)
	pending, _, err := testorg.DemoTicket(bg, env.App.Store, testorg.DemoRequest{Requester: "alice", Namespace: "qa",
		Reason: "a second wiki for the acceptance tests"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	run("phone", chromedp.EmulateViewport(390, 844))

	// page opens path, waits for sel and checks the page as a phone shows it; onScreen
	// are what must be visible without scrolling sideways.
	page := func(name, path, sel string, onScreen ...string) {
		t.Helper()
		run(name, chromedp.Navigate(env.URL+path), chromedp.WaitVisible(chromedp.CSS(sel)))
		screenshot(t, ctx, "phone-"+name)
		fitsPhoneScreen(t, ctx, name)
		if visibleNav(t, ctx) {
			t.Errorf("%s: the navigation is not folded at 390 px", name)
		}
		for _, s := range append([]string{`details.nav-fold > summary`, `.topbar .bell`, `details.user-menu > summary`}, onScreen...) {
			if msg := inView(t, ctx, s); msg != "" {
				t.Errorf("%s: %s %s", name, s, msg)
			}
		}
		if count(t, ctx, `details.filter-fold`) > 0 {
			if count(t, ctx, `details.filter-fold[open]`) > 0 || inView(t, ctx, `details.filter-fold form`) == "" {
				t.Errorf("%s: the filters are not folded at 390 px", name)
			}
			if msg := inView(t, ctx, `details.filter-fold > summary`); msg != "" {
				t.Errorf("%s: the filters' toggle %s", name, msg)
			}
		}
	}

	signIn(t, ctx, env, "bob")
	page("bob-dashboard", "/", `[data-testid="capabilities"]`, `[data-testid="review-oldest"]`)
	openMenuWithKeyboard(t, ctx, "bob-dashboard")
	page("bob-inbox", "/approvals", `table[data-testid="inbox"] tr[data-ticket]`,
		`table[data-testid="inbox"] tr[data-ticket] a[role="button"]`, `table[data-testid="inbox"] tr[data-ticket] td:first-child`)
	// The first request is on the first screen, not below the filters.
	if top, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('table[data-testid="inbox"] tr[data-ticket] a[role="button"]').getBoundingClientRect().bottom`)); err != nil || top > 844 {
		t.Errorf("bob-inbox: the first Review button ends at %v px, below the first screen (%v)", top, err)
	}
	page("bob-decide", "/approvals/"+pending.ID.String(), `[data-testid="approve"]`, `[data-testid="approve"]`, `[data-testid="reject"]`)
	page("bob-notifications", "/notifications", `[data-testid="inbox"]`, `[data-testid="notification"] a`)
	signOut(t, ctx)

	signIn(t, ctx, env, "alice")
	page("alice-dashboard", "/", `[data-testid="capabilities"]`, `[data-testid="dashboard-request-vm"]`)
	row := `table[data-testid="vm-list"] tr[data-vm="` + vm.Name + `"]`
	page("alice-vms", "/vms", row, row+` td:first-child a`, row+` .badge`)
	if top, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('`+row+` .badge').getBoundingClientRect().bottom`)); err != nil || top > 844 {
		t.Errorf("alice-vms: the first VM's status ends at %v px, below the first screen (%v)", top, err)
	}
	page("alice-requests", "/requests", `table[data-testid="my-requests"] tbody tr`,
		`table[data-testid="my-requests"] tbody tr td:first-child a`, `table[data-testid="my-requests"] tbody tr .badge`)
	page("alice-request", "/requests/"+pending.ID.String(), `[data-testid="timeline"]`, `[data-testid="ticket-status"]`, `[data-testid="cancel-request"]`)
	page("alice-new-request", "/requests/new", `[data-testid="submit-request"]`, `[data-testid="submit-request"]`)
	page("alice-vm", "/vms/"+vm.ID.String(), `[data-testid="vm-title"]`, `[data-testid="vm-status"]`)
	page("alice-permissions", "/me/permissions", `table[data-testid="memberships"] tbody tr`, `table[data-testid="effective"] tbody tr td:first-child`)
	page("alice-systems", "/systems", `table[data-testid="systems-table"] tbody tr`, `table[data-testid="systems-table"] tbody tr td:first-child a`)
	run("service page", chromedp.Click(chromedp.CSS(`table[data-testid="systems-table"] tbody tr td:first-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`table[data-testid="services-table"] tbody tr td:first-child a`)),
		chromedp.Click(chromedp.CSS(`table[data-testid="services-table"] tr[data-service="wiki"] td:first-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`table[data-testid="vms-table"] tr[data-vm="`+vm.Name+`"]`)))
	loc := strings.TrimPrefix(location(t, ctx), env.URL)
	page("alice-service", loc, `table[data-testid="vms-table"] tr[data-vm="`+vm.Name+`"]`,
		`table[data-testid="vms-table"] tr[data-vm="`+vm.Name+`"] td:first-child`, `table[data-testid="vms-table"] tr[data-vm="`+vm.Name+`"] .badge`)

	signOut(t, ctx)

	signIn(t, ctx, env, "carol")
	page("carol-admin", "/admin", `[data-testid="card-templates"]`)
	page("carol-audit", "/admin/audit", `[data-testid="audit-rows"]`, `[data-testid="audit-rows"] tbody tr td:first-child`)

	// Filters with a value stay open, so the active filter is seen.
	run("filtered", chromedp.Navigate(env.URL+"/vms?environment=test"), chromedp.WaitVisible(chromedp.CSS(`details.filter-fold[open] form`)))

	// A desktop keeps its navigation and filters in the open.
	run("desktop", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(env.URL+"/vms"), chromedp.WaitVisible(chromedp.CSS(row)))
	screenshot(t, ctx, "desktop-vms")
	if !visibleNav(t, ctx) {
		t.Error("desktop: the navigation is folded at 1280 px")
	}
	if inView(t, ctx, `details.nav-fold > summary`) == "" || inView(t, ctx, `details.filter-fold > summary`) == "" {
		t.Error("desktop: a Menu or Filters toggle is shown at 1280 px")
	}
	if msg := inView(t, ctx, `details.filter-fold form button[type="submit"]`); msg != "" {
		t.Errorf("desktop: the filters' button %s", msg)
	}
}

// openMenuWithKeyboard focuses the Menu toggle, presses Enter and expects every item of
// the navigation on screen; Escape folds it again.
func openMenuWithKeyboard(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`details.nav-fold > summary`)),
		chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`details.nav-fold[open] [data-nav]`)))
	if err != nil {
		t.Fatalf("%s: open the menu with the keyboard: %v", name, err)
	}
	screenshot(t, ctx, "phone-"+name+"-menu")
	n := count(t, ctx, `[data-nav]`)
	if n < 2 {
		t.Fatalf("%s: %d navigation items", name, n)
	}
	for i := 1; i <= n; i++ {
		if msg := inView(t, ctx, fmt.Sprintf(`.main-nav li:nth-child(%d) [data-nav]`, i)); msg != "" {
			t.Errorf("%s: menu item %d %s", name, i, msg)
		}
	}
	fitsPhoneScreen(t, ctx, name+" with the menu open")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	if visibleNav(t, ctx) {
		t.Errorf("%s: Escape does not fold the menu", name)
	}
}

// fitsPhoneScreen fails when the page scrolls sideways on a 390 px screen, naming what sticks out.
func fitsPhoneScreen(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	culprits, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('body *'))
		.filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1 })
		.slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
	if err != nil {
		t.Fatal(err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 || culprits != "" {
		t.Errorf("%s is wider than 390 px: %d px (%s)", name, width, culprits)
	}
}

// visibleNav reports whether any main navigation item is shown.
func visibleNav(t *testing.T, ctx context.Context) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll('[data-nav]')).some(e => e.getClientRects().length > 0 && e.getBoundingClientRect().width > 0)`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// inView is "" when the first element matching sel is shown within the screen's width,
// else what is wrong with it.
func inView(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){
		const e = document.querySelector('`+sel+`');
		if (!e) return 'is missing';
		const r = e.getBoundingClientRect();
		if (r.width === 0 || r.height === 0 || getComputedStyle(e).visibility === 'hidden') return 'is hidden';
		if (r.left < 0 || r.right > window.innerWidth + 1) return 'is off-screen (' + Math.round(r.left) + '–' + Math.round(r.right) + ' px)';
		return '';
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
