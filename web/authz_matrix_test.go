package web_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/governance"
)

// Roles of the matrix: demo users plus olga, an operator who belongs to another System.
const (
	viewer   = "viewer"   // victor: Viewer (test), viewer of shop
	member   = "member"   // alice: Operator (test), member of shop
	approver = "approver" // bob: Approver (test, prod), no membership
	sysAdmin = "sysadmin" // dana: SystemAdmin, owner of shop and payments
	admin    = "admin"    // carol: PlatformAdmin
	other    = "other"    // olga: Operator (test), member of payments only
)

var allRoles = []string{viewer, member, approver, sysAdmin, admin, other}

func roles(rs ...string) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r] = true
	}
	return m
}

var everyone = roles(allRoles...)

// matrix: for every route, the roles that pass authorization. Everyone else must get 403
// or 404; anonymous visitors are sent to sign in. A route missing here fails the test, so
// each new route states who may use it.
var matrix = map[string]map[string]bool{
	"GET /":                                  everyone,
	"GET /me/permissions":                    everyone,
	"GET /api/v1/me/permissions":             everyone,
	"GET /notifications":                     everyone,
	"POST /notifications/read-all":           everyone,
	"POST /notifications/:id/read":           roles(member), // alice's notification: only hers
	"GET /systems":                           roles(viewer, member, approver, sysAdmin, admin, other),
	"GET /systems/new":                       roles(sysAdmin, admin),
	"POST /systems/new":                      roles(sysAdmin, admin),
	"GET /systems/check-name":                roles(sysAdmin, admin),
	"GET /systems/:id":                       roles(viewer, member, sysAdmin, admin),
	"GET /systems/:id/edit":                  roles(sysAdmin, admin),
	"POST /systems/:id/edit":                 roles(sysAdmin, admin),
	"POST /systems/:id/delete":               roles(sysAdmin, admin),
	"GET /systems/:id/members":               roles(sysAdmin, admin),
	"GET /systems/:id/members/search":        roles(sysAdmin, admin),
	"POST /systems/:id/members":              roles(sysAdmin, admin),
	"POST /systems/:id/members/:user/role":   roles(sysAdmin, admin),
	"POST /systems/:id/members/:user/remove": roles(sysAdmin, admin),
	"POST /systems/:id/transfer":             roles(sysAdmin, admin),
	"GET /services/new":                      roles(sysAdmin, admin),
	"POST /services/new":                     roles(sysAdmin, admin),
	"GET /services/check-name":               roles(sysAdmin, admin),
	"GET /services/:id":                      roles(viewer, member, sysAdmin, admin),
	"GET /services/:id/edit":                 roles(sysAdmin, admin),
	"POST /services/:id/edit":                roles(sysAdmin, admin),
	"POST /services/:id/delete":              roles(sysAdmin, admin),
	"POST /markdown/preview":                 everyone,
	"GET /vms":                               everyone,
	// The matrix's VM has no ticket bob decided or may decide, so the approver stays out;
	// he reads the VMs of the tickets he decides or decided (approvals.TestJourneyWordsAndLinks).
	"GET /vms/:id":         roles(viewer, member, sysAdmin, admin),
	"GET /vms/rows":        everyone,
	"GET /vms/:id/status":  roles(viewer, member, sysAdmin, admin),
	"POST /vms/:id/power":  roles(member, sysAdmin, admin),
	"POST /vms/:id/delete": roles(sysAdmin, admin),
	// Batches: the route needs the permission somewhere; each VM is then checked on its own
	// (an empty selection is refused with a message, not a 403).
	"POST /vms/batch/power":               roles(member, sysAdmin, admin, other),
	"POST /vms/batch/delete":              roles(sysAdmin, admin),
	"GET /vms/:id/console":                roles(viewer, member, sysAdmin, admin), // a viewer reads why not
	"POST /vms/:id/console/ticket":        roles(member, sysAdmin, admin),
	"GET /vms/:id/console/ws":             roles(member, sysAdmin, admin), // 400 without a websocket handshake
	"POST /vms/:id/console/request":       roles(member, sysAdmin, admin), // refused for this test VM with a message, not a 403
	"GET /requests/:id/status":            roles(viewer, member, approver, sysAdmin, admin),
	"GET /requests":                       everyone,
	"GET /requests/new":                   roles(member, sysAdmin, admin, other),
	"POST /requests/new":                  roles(member, sysAdmin, admin, other),
	"GET /requests/size-card":             roles(member, sysAdmin, admin, other),
	"GET /requests/:id":                   roles(viewer, member, approver, sysAdmin, admin),
	"POST /requests/:id/cancel":           roles(member, sysAdmin, admin),
	"GET /approvals":                      roles(approver, admin),
	"POST /approvals/batch":               roles(approver, admin),
	"GET /approvals/:id":                  roles(approver, admin),
	"GET /approvals/batches/:id":          roles(approver, admin),
	"POST /approvals/batches/:id/preview": roles(approver, admin),
	"POST /approvals/batches/:id/approve": roles(approver, admin),
	"POST /approvals/batches/:id/reject":  roles(approver, admin),
	// A batch reads like its children's request pages; its failed VMs are retried by the
	// requester or whoever could approve them (a viewer or System admin only reads it).
	"GET /batches/:id":                               roles(viewer, member, approver, sysAdmin, admin),
	"GET /batches/:id/live":                          roles(viewer, member, approver, sysAdmin, admin),
	"POST /batches/:id/retry":                        roles(member, approver, admin),
	"POST /approvals/:id/preview":                    roles(approver, admin),
	"POST /approvals/:id/approve":                    roles(approver, admin),
	"POST /approvals/:id/reject":                     roles(approver, admin),
	"GET /admin":                                     roles(admin),
	"GET /admin/reconcile":                           roles(admin),
	"POST /admin/clusters/test-connection":           roles(admin),
	"POST /admin/sizes/dry-run":                      roles(admin),
	"POST /admin/clusters/:id/credentials":           roles(admin),
	"POST /admin/clusters/:id/delete":                roles(admin),
	"GET /admin/audit":                               roles(admin),
	"GET /admin/audit/export":                        roles(admin),
	"GET /admin/consoles":                            roles(admin),
	"POST /admin/consoles/sessions/:id/end":          roles(admin),
	"POST /admin/consoles/grants/:id/revoke":         roles(admin),
	"GET /admin/sign-in-throttle":                    roles(admin),
	"POST /admin/sign-in-throttle/clear":             roles(admin), // without a key: a flash, not a 403
	"GET /admin/rate-limits":                         roles(admin),
	"POST /admin/rate-limits/users":                  roles(admin), // an empty form: field errors, not a 403
	"POST /admin/rate-limits/users/:id/delete":       roles(admin),
	"GET /admin/audit/archives":                      roles(admin),
	"GET /admin/audit/archives/:id/download":         roles(admin),
	"POST /admin/policies/dry-run":                   roles(admin),
	"POST /admin/policies/kill-switch/on":            roles(admin),
	"POST /admin/policies/kill-switch/off":           roles(admin),
	"POST /admin/policies/:id/confirm-prod":          roles(admin), // a test-only policy: a flash, not a 403
	"GET /admin/users":                               roles(admin),
	"GET /admin/users/new":                           roles(admin),
	"POST /admin/users":                              roles(admin), // an empty form: field errors
	"GET /admin/users/:id":                           roles(admin),
	"POST /admin/users/:id/disable":                  roles(admin), // zed, a user nobody signs in as
	"POST /admin/users/:id/enable":                   roles(admin),
	"POST /admin/users/:id/sessions/revoke":          roles(admin),
	"POST /admin/users/:id/reset-password":           roles(admin),
	"POST /admin/users/:id/bindings":                 roles(admin), // an empty form: field errors
	"POST /admin/users/:id/bindings/:binding/revoke": roles(admin), // an unknown binding: a flash
	"GET /admin/roles":                               roles(admin),
	"GET /admin/roles/new":                           roles(admin),
	"POST /admin/roles":                              roles(admin), // an empty form: field errors
	"GET /admin/roles/:id/edit":                      roles(admin),
	"POST /admin/roles/:id":                          roles(admin), // an empty form: field errors
	"POST /admin/roles/:id/delete":                   roles(admin), // the matrix's own custom role, held by nobody
}

func init() {
	for _, k := range []string{"namespaces", "clusters", "sizes", "templates", "policies"} {
		for _, r := range []string{"GET /admin/%s", "GET /admin/%s/new", "POST /admin/%s", "GET /admin/%s/:id/edit", "POST /admin/%s/:id",
			"POST /admin/%s/:id/enable", "POST /admin/%s/:id/disable", "GET /admin/%s/:id", "POST /admin/%s/:id/publish",
			"POST /admin/%s/:id/deprecate", "POST /admin/%s/:id/archive", "POST /admin/%s/:id/new-version"} {
			matrix[strings.Replace(r, "%s", k, 1)] = roles(admin)
		}
	}
}

// outsideMatrix are routes with their own tests (sign-in and sign-out, health, dev issuer, job UI,
// the event stream: web/events).
func outsideMatrix(method, path string) bool {
	for _, p := range []string{"/static", "/health", "/metrics", "/dev/oidc", "/admin/jobs", "/login", "/auth/", "/api/v1/auth/", "/logout", "/signed-out", "/account/password", "/notifications/badge", "/events"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return path == "/*" || method == "echo_route_not_found"
}

// world is the matrix's setting: the demo organisation plus olga, a service of shop,
// a pending ticket and a VM of alice's, her notification and console records, and a
// signed-in client per role. concrete fills a route's path parameters with these.
type world struct {
	env      *apptest.Env
	clients  map[string]*http.Client
	concrete func(path string) string
	reset    func() // puts victor back as a viewer of shop (member routes act on him)
}

func newWorld(t *testing.T) *world {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	payments := c.System.Query().Where(system.Name("payments")).OnlyX(ctx)
	svc := c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx)
	alice := c.User.Query().Where(user.Username("alice")).OnlyX(ctx)
	victor := c.User.Query().Where(user.Username("victor")).OnlyX(ctx)

	// olga signs in locally: an operator in another System.
	hash, _ := password.Hash("olga-has-a-long-password")
	olga := c.User.Create().SetUsername("olga").SetPasswordHash(hash).SaveX(ctx)
	op := c.Role.Query().Where(role.Name("Operator")).OnlyX(ctx)
	c.RoleBinding.Create().SetUserID(olga.ID).SetRoleID(op.ID).SetAllowedEnvironments([]string{"test"}).SaveX(ctx)
	c.SystemMember.Create().SetSystemID(payments.ID).SetUserID(olga.ID).SetRole("member").SaveX(ctx)

	clients := map[string]*http.Client{}
	for r, sub := range map[string]string{viewer: "demo-victor", member: "demo-alice", approver: "demo-bob", sysAdmin: "demo-dana", admin: "demo-carol"} {
		clients[r] = env.Client(t)
		env.LoginOIDC(t, clients[r], sub)
	}
	clients[other] = env.Client(t)
	if status, _ := env.LoginLocal(t, clients[other], "olga", "olga-has-a-long-password"); status != http.StatusSeeOther {
		t.Fatalf("olga: %d", status)
	}

	// A pending request of alice's for the ticket routes, and one of her notifications.
	ns := c.Namespace.Query().FirstX(ctx)
	size := c.InstanceSize.Query().FirstX(ctx)
	ticket := newTicket(t, env, svc.ID, ns.ID, size.ID)
	aliceNoteID := c.Notification.Create().SetRecipientID(alice.ID).SetType("REQUEST_APPROVED").SetTitle("yours").SaveX(ctx).ID.String()
	params := map[string]string{}
	params["/admin/namespaces/:id"] = c.Namespace.Query().FirstX(ctx).ID.String()
	params["/admin/clusters/:id"] = c.Cluster.Query().FirstX(ctx).ID.String()
	params["/admin/sizes/:id"] = c.InstanceSize.Query().FirstX(ctx).ID.String()
	params["/admin/templates/:id"] = c.Template.Query().FirstX(ctx).ID.String()
	params["/admin/policies/:id"] = c.AutoApprovalPolicy.Create().SetPolicyID(uuid.New()).SetVersion(1).SetName("routine").
		SetPriority(5).SetEnvironments([]string{"test"}).SetAuthorID(uuid.New()).SaveX(ctx).PolicyID.String()
	c.RateLimitUserLimit.Create().SetID(victor.ID).SetExempt(true).SetReason("matrix").SetUpdatedAt(time.Now()).ExecX(ctx)
	params["/admin/rate-limits/users/:id"] = victor.ID.String()
	zed := c.User.Create().SetUsername("zed").SetAuthType(user.AuthTypeLocal).SaveX(ctx)
	params["/admin/users/:id"] = zed.ID.String()
	params["/admin/roles/:id"] = c.Role.Create().SetName("Matrix role").AddPermissionIDs("vm:read").SaveX(ctx).ID.String()
	params["/admin/audit/archives/:id"] = c.AuditArchive.Create().SetFirstAt(time.Now()).SetLastAt(time.Now()).SetRowCount(0).
		SetClasses(map[string]int{}).SetSha256("x").SetSizeBytes(0).SetContent([]byte{}).SaveX(ctx).ID.String()
	params["/systems/:id"] = shop.ID.String()
	params["/services/:id"] = svc.ID.String()
	params["/requests/:id"] = ticket
	params["/vms/:id"] = newVM(t, env, svc.ID, ns.ID, size.ID)
	params["/approvals/:id"] = ticket
	// A batch of alice's (another size, so it is no duplicate of her single request).
	batch := newBatch(t, env, svc.ID, ns.ID, c.InstanceSize.Query().Where(instancesize.IDNEQ(size.ID)).FirstIDX(ctx))
	params["/batches/:id"], params["/approvals/batches/:id"] = batch, batch
	params["/notifications/:id"] = aliceNoteID
	params["/admin/consoles/sessions/:id"], params["/admin/consoles/grants/:id"] = consoleRecords(t, env, params["/vms/:id"], alice.ID)
	params["/admin/identity-providers/:key/mappings/:id"] = c.IdPGroupMapping.Query().FirstX(ctx).ID.String()
	concrete := func(path string) string {
		for prefix, id := range params {
			if strings.HasPrefix(path, prefix) {
				path = strings.Replace(path, ":id", id, 1)
			}
		}
		path = strings.Replace(path, ":binding", uuid.NewString(), 1)
		path = strings.Replace(path, ":key", "default", 1)
		return strings.Replace(path, ":user", victor.ID.String(), 1)
	}

	reset := func() {
		c.SystemMember.Delete().Where(systemmember.SystemID(shop.ID), systemmember.UserID(victor.ID)).ExecX(ctx)
		c.SystemMember.Create().SetSystemID(shop.ID).SetUserID(victor.ID).SetRole("viewer").ExecX(ctx)
	}
	return &world{env: env, clients: clients, concrete: concrete, reset: reset}
}

func TestAuthorizationMatrix(t *testing.T) {
	w := newWorld(t)
	env, clients, concrete := w.env, w.clients, w.concrete
	var routes []string
	for _, r := range env.App.Echo.Routes() {
		if outsideMatrix(r.Method, r.Path) {
			continue
		}
		routes = append(routes, r.Method+" "+r.Path)
	}
	sort.Strings(routes)
	anon := env.Client(t)
	for _, route := range routes {
		allowed, ok := matrix[route]
		if !ok {
			t.Errorf("%s: no authorization expectation; add it to the matrix", route)
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		target := concrete(path)
		// Anonymous visitors are sent to sign in; their unsafe requests already fail the
		// CSRF check (they have no session token).
		status, _, resp := send(t, env, anon, method, target)
		toLogin := status == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
		if !toLogin && !(method != http.MethodGet && status == http.StatusForbidden) {
			t.Errorf("%s anonymous: %d %s", route, status, resp.Header.Get("Location"))
		}
		for _, r := range allRoles {
			// Member changes act on victor; put him back so each role meets the same state.
			w.reset()
			status, _, resp := send(t, env, clients[r], method, target)
			denied := status == http.StatusForbidden || status == http.StatusNotFound ||
				(status == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"))
			if allowed[r] && denied {
				t.Errorf("%s as %s: refused with %d, want allowed", route, r, status)
			}
			if !allowed[r] && !denied {
				t.Errorf("%s as %s: got %d, want 403/404", route, r, status)
			}
			if status >= 500 {
				t.Errorf("%s as %s: server error %d", route, r, status)
			}
		}
	}
}

// send issues one request; unsafe methods carry the session's CSRF token and no other
// input, so allowed routes answer with a validation error or a redirect, never a 403.
func send(t *testing.T, env *apptest.Env, c *http.Client, method, path string) (int, string, *http.Response) {
	t.Helper()
	if method == http.MethodGet {
		return env.Get(t, c, path)
	}
	_, page, _ := env.Get(t, c, "/me/permissions")
	form := url.Values{}
	if strings.Contains(page, "csrf_token") {
		form.Set("csrf_token", apptest.CSRF(t, page))
	}
	return env.PostForm(t, c, path, form)
}

// newBatch has alice request two VMs of the service at once.
func newBatch(t *testing.T, env *apptest.Env, svc, ns, size uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	who, err := governanceRequester(ctx, env, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tpl := env.App.Store.Ent.Template.Query().Where(template.StatusEQ(template.StatusActive)).FirstX(ctx)
	b, err := (&governance.Service{Store: env.App.Store}).SubmitBatch(ctx, who, governance.RequestInput{
		ServiceID: svc, NamespaceID: ns, SizeID: size, TemplateID: tpl.ID, DiskGB: 100, Reason: "matrix batch"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return b.ID.String()
}

// newTicket has alice request a VM of the service (her pending ticket for the routes).
func newTicket(t *testing.T, env *apptest.Env, svc, ns, size uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	who, err := governanceRequester(ctx, env, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tpl := env.App.Store.Ent.Template.Query().Where(template.StatusEQ(template.StatusActive)).FirstX(ctx)
	tk, err := (&governance.Service{Store: env.App.Store}).Submit(ctx, who, governance.RequestInput{
		ServiceID: svc, NamespaceID: ns, SizeID: size, TemplateID: tpl.ID, DiskGB: 100, Reason: "matrix"})
	if err != nil {
		t.Fatal(err)
	}
	return tk.ID.String()
}
