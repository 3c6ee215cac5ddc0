package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/internal/apptest"
)

var (
	vmNameRe = regexp.MustCompile(`data-vm="([^"]+)"`)
	relRe    = regexp.MustCompile(`<a href="([^"]+)" rel="(first|prev|next|last)"`)
)

// pagerLinks returns the pager's links by rel, and the VM names on the page in order.
func pagerLinks(body string) (map[string]string, []string) {
	links := map[string]string{}
	for _, m := range relRe.FindAllStringSubmatch(body, -1) {
		links[m[2]] = html.UnescapeString(m[1])
	}
	var names []string
	for _, m := range vmNameRe.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return links, names
}

// TestVMListPagesByKeysetPastTheCount: a list longer than it counts says so and pages by
// cursor; following Next from the first page visits every VM once, newest first, and
// ends on the page Last links to; Previous from there goes back; old ?page= links still
// answer.
func TestVMListPagesByKeysetPastTheCount(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	svc := c.Service.Query().Where(service.Name("wiki")).FirstX(ctx)
	ns := c.Namespace.Query().Where(namespace.Name("dev")).OnlyX(ctx)
	const total = 250
	// Some VMs share a creation time: the cursor's id breaks the tie.
	_, err := env.App.Store.SQL.ExecContext(ctx, `
INSERT INTO vms (id, created_at, updated_at, name, service_id, system_id, namespace_id, namespace_name, environment, cluster_id,
  instance_index, instance_size_id, instance_size_name, template_id, ticket_id, status, created_by)
SELECT gen_random_uuid(), date_trunc('hour', now()) - (g / 3) * interval '1 minute', now(), 'dev-keyset-wiki-' || g, $1, $2, $3,
  'dev', 'test', $4, g, $5, 'small', $6, gen_random_uuid(), 'RUNNING', $2
FROM generate_series(1, $7) AS g`, svc.ID, svc.SystemID, ns.ID, c.Cluster.Query().FirstIDX(ctx),
		c.InstanceSize.Query().FirstIDX(ctx), c.Template.Query().FirstIDX(ctx), total)
	if err != nil {
		t.Fatal(err)
	}
	cl := env.Client(t)
	env.LoginOIDC(t, cl, "demo-carol")

	status, body, _ := env.Get(t, cl, "/vms")
	if status != http.StatusOK {
		t.Fatalf("/vms: %d", status)
	}
	if !strings.Contains(body, "1–20 of more than 200") {
		t.Errorf("the first page does not say the list is longer than it counts")
	}
	links, names := pagerLinks(body)
	if links["next"] == "" || links["last"] == "" || links["prev"] != "" {
		t.Fatalf("first page links: %v", links)
	}
	last := links["last"]
	seen := map[string]bool{}
	var order []string
	pages := 0
	for {
		pages++
		for _, n := range names {
			if seen[n] {
				t.Fatalf("page %d shows %s again", pages, n)
			}
			seen[n] = true
			order = append(order, n)
		}
		if links["next"] == "" {
			break
		}
		if pages > 20 {
			t.Fatal("Next never ends")
		}
		status, body, _ = env.Get(t, cl, links["next"])
		if status != http.StatusOK {
			t.Fatalf("%s: %d", links["next"], status)
		}
		links, names = pagerLinks(body)
		if links["prev"] == "" || links["first"] == "" {
			t.Errorf("page %d has no Previous/First: %v", pages+1, links)
		}
	}
	if len(order) != total {
		t.Errorf("following Next showed %d VMs, want %d", len(order), total)
	}
	if order[0] != "dev-keyset-wiki-1" && order[0] != "dev-keyset-wiki-2" { // 1 and 2 are created together
		t.Errorf("newest first: the list starts with %s", order[0])
	}

	// The last page is the one Next ended on.
	status, body, _ = env.Get(t, cl, last)
	if status != http.StatusOK {
		t.Fatalf("%s: %d", last, status)
	}
	lastLinks, lastNames := pagerLinks(body)
	if strings.Join(lastNames, ",") != strings.Join(order[len(order)-len(lastNames):], ",") || len(lastNames) != 20 {
		t.Errorf("page=last shows %v", lastNames)
	}
	if lastLinks["next"] != "" || lastLinks["prev"] == "" {
		t.Errorf("last page links: %v", lastLinks)
	}
	// Previous from the last page shows the 20 before it.
	status, body, _ = env.Get(t, cl, lastLinks["prev"])
	if status != http.StatusOK {
		t.Fatalf("%s: %d", lastLinks["prev"], status)
	}
	_, prevNames := pagerLinks(body)
	want := order[len(order)-40 : len(order)-20]
	if strings.Join(prevNames, ",") != strings.Join(want, ",") {
		t.Errorf("Previous from the last page shows %v, want %v", prevNames, want)
	}

	// An old numbered link past the counted range still answers with a page of VMs.
	status, body, _ = env.Get(t, cl, "/vms?page=400")
	if _, n := pagerLinks(body); status != http.StatusOK || len(n) != 20 {
		t.Errorf("/vms?page=400: %d with %d VMs", status, len(n))
	}
	// Cursors past either end (their neighbours deleted) show the page at that end.
	status, body, _ = env.Get(t, cl, "/vms?before=4102444800000000.00000000-0000-0000-0000-000000000001")
	if _, n := pagerLinks(body); status != http.StatusOK || len(n) != 20 || n[0] != order[0] {
		t.Errorf("before= past the newest VM: %d, %v", status, n)
	}
	status, body, _ = env.Get(t, cl, "/vms?after=1.00000000-0000-0000-0000-000000000001")
	if _, n := pagerLinks(body); status != http.StatusOK || len(n) != 20 || n[len(n)-1] != order[len(order)-1] {
		t.Errorf("after= past the oldest VM: %d, %v", status, n)
	}
	// A mangled cursor is ignored (the first page), not an error.
	status, body, _ = env.Get(t, cl, "/vms?after=garbage")
	if _, n := pagerLinks(body); status != http.StatusOK || len(n) == 0 || n[0] != order[0] {
		t.Errorf("/vms?after=garbage: %d, %v", status, n)
	}
}
