package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/system"
	entuser "kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
)

// consoleWorld is a prod VM of shop with a grant dana holds (approved by bob), one live
// session under it and one live session of a test console without a grant.
type consoleWorld struct {
	vm              *ent.VM
	grant           *ent.ConsoleGrant
	granted, direct *ent.ConsoleSession
}

func newConsoleWorld(t *testing.T, env *apptest.Env) consoleWorld {
	t.Helper()
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	svc := c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx)
	prod := c.Namespace.Query().Where(namespace.Name("prod")).OnlyX(ctx)
	v := c.VM.Create().SetName("prod-shop-web-01").SetServiceID(svc.ID).SetSystemID(shop.ID).SetNamespaceID(prod.ID).
		SetNamespaceName(prod.Name).SetEnvironment(vm.EnvironmentProd).SetClusterID(c.Cluster.Query().FirstIDX(ctx)).
		SetInstanceIndex(1).SetInstanceSizeID(c.InstanceSize.Query().FirstIDX(ctx)).SetTemplateID(c.Template.Query().FirstIDX(ctx)).
		SetTicketID(uuid.New()).SetStatus(vm.StatusRUNNING).SetK8sUID(uuid.NewString()).SetCreatedBy(shop.ID).SaveX(ctx)
	gov := &governance.Service{Store: env.App.Store}
	tk, err := gov.RequestConsoleAccess(ctx, requester(t, env, "dana"), v.ID, "disk full, sshd down", 60)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gov.ApproveConsoleAccess(ctx, requester(t, env, "bob"), tk.ID, 60, "")
	if err != nil {
		t.Fatal(err)
	}
	session := func(u string, grant *uuid.UUID) *ent.ConsoleSession {
		who := c.User.Query().Where(entuser.Username(u)).OnlyX(ctx)
		return c.ConsoleSession.Create().SetTicketID(uuid.New()).SetUserID(who.ID).SetUserName(u).SetVMID(v.ID).SetVMName(v.Name).
			SetEnvironment("prod").SetClusterID(v.ClusterID).SetNillableGrantID(grant).SetClientIP("192.0.2.7").SetReplica("replica-a").
			SetOpenedAt(time.Now().Add(-5 * time.Minute)).SetEndsAt(g.ExpiresAt).SaveX(ctx)
	}
	return consoleWorld{vm: v, grant: g, granted: session("dana", &g.ID), direct: session("carol", nil)}
}

func requester(t *testing.T, env *apptest.Env, username string) governance.Requester {
	t.Helper()
	ctx := context.Background()
	u := env.App.Store.Ent.User.Query().Where(entuser.Username(username)).OnlyX(ctx)
	p, err := authz.Load(ctx, env.App.Store.Ent, u.ID, u.Username)
	if err != nil {
		t.Fatal(err)
	}
	return governance.Requester{User: u, Principal: p}
}

func TestConsolesPageEndsSessionsAndRevokesGrants(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	w := newConsoleWorld(t, env)
	carol := signIn(t, env, "demo-carol")

	status, body := carol.get(t, "/admin/consoles")
	if status != http.StatusOK {
		t.Fatalf("/admin/consoles: %d", status)
	}
	sessionRow, grantRow := rowOf(body, w.granted.ID.String()), rowOf(body, w.grant.ID.String())
	for _, want := range []string{"dana", "prod-shop-web-01", `href="/vms/` + w.vm.ID.String() + `"`, "192.0.2.7", "replica-a", "since 5 minutes ago", "End session"} {
		if !strings.Contains(sessionRow, want) {
			t.Errorf("session row lacks %q", want)
		}
	}
	for _, want := range []string{"dana", "prod-shop-web-01", "bob", w.grant.ExpiresAt.UTC().Format("15:04 UTC"), `<label for="revoke-reason-`, "Revoke"} {
		if !strings.Contains(grantRow, want) {
			t.Errorf("grant row lacks %q", want)
		}
	}
	if !strings.Contains(body, `data-admin-tab="consoles"`) {
		t.Error("the admin tabs lack Consoles")
	}

	// End one session: it is marked revoked; its replica closes the socket.
	if loc := carol.mustRedirect(t, "/admin/consoles/sessions/"+w.direct.ID.String()+"/end", nil); loc != "/admin/consoles" {
		t.Fatalf("end session redirects to %s", loc)
	}
	if s := c.ConsoleSession.GetX(ctx, w.direct.ID); s.RevokedAt == nil || s.RevokedBy != "carol" {
		t.Fatalf("ended session: %+v", s)
	}
	if _, body := carol.get(t, "/admin/consoles"); !strings.Contains(rowOf(body, w.direct.ID.String()), "Ending…") {
		t.Error("an ended session is not shown as ending")
	}

	// A grant is revoked only with a reason; then it and its sessions end.
	carol.mustRedirect(t, "/admin/consoles/grants/"+w.grant.ID.String()+"/revoke", url.Values{"reason": {"  "}})
	if g := c.ConsoleGrant.GetX(ctx, w.grant.ID); g.RevokedAt != nil {
		t.Fatal("a grant was revoked without a reason")
	}
	carol.mustRedirect(t, "/admin/consoles/grants/"+w.grant.ID.String()+"/revoke", url.Values{"reason": {"incident closed"}})
	g := c.ConsoleGrant.GetX(ctx, w.grant.ID)
	if g.RevokedAt == nil || g.RevokedBy != "carol" || g.RevokeReason != "incident closed" {
		t.Fatalf("revoked grant: %+v", g)
	}
	if s := c.ConsoleSession.GetX(ctx, w.granted.ID); s.RevokedAt == nil || s.RevokeReason == "" {
		t.Fatalf("the session under the grant was not cut: %+v", s)
	}
	_, body = carol.get(t, "/admin/consoles")
	if strings.Contains(body, `data-row="`+w.grant.ID.String()+`"`) {
		t.Error("a revoked grant is still listed")
	}
	// Revoking again says it already ended.
	carol.mustRedirect(t, "/admin/consoles/grants/"+w.grant.ID.String()+"/revoke", url.Values{"reason": {"again"}})
	if _, body := carol.get(t, "/admin/consoles"); !strings.Contains(body, "already ended") {
		t.Error("no message for a grant already revoked")
	}
	// The holder's request page says so.
	dana := signIn(t, env, "demo-dana")
	if _, detail := dana.get(t, "/requests/"+g.TicketID.String()); !strings.Contains(detail, "Access revoked") || !strings.Contains(detail, "incident closed") {
		t.Error("the request page does not show the revocation")
	}
	if status, _, _ := carol.post(t, "/admin/consoles/sessions/"+uuid.NewString()+"/end", nil); status != http.StatusNotFound {
		t.Errorf("unknown session: %d", status)
	}
}

func TestConsolesPageIsForPlatformAdmins(t *testing.T) {
	env := apptest.Start(t)
	w := newConsoleWorld(t, env)
	for _, sub := range []string{"demo-alice", "demo-bob", "demo-dana", "demo-victor"} {
		u := signIn(t, env, sub)
		if status, _ := u.get(t, "/admin/consoles"); status != http.StatusForbidden {
			t.Errorf("%s GET /admin/consoles: %d", sub, status)
		}
		if status, _, _ := u.post(t, "/admin/consoles/sessions/"+w.granted.ID.String()+"/end", nil); status != http.StatusForbidden {
			t.Errorf("%s end session: %d", sub, status)
		}
		if status, _, _ := u.post(t, "/admin/consoles/grants/"+w.grant.ID.String()+"/revoke", url.Values{"reason": {"x"}}); status != http.StatusForbidden {
			t.Errorf("%s revoke grant: %d", sub, status)
		}
	}
	c := env.App.Store.Ent
	if g := c.ConsoleGrant.GetX(context.Background(), w.grant.ID); g.RevokedAt != nil {
		t.Fatal("a refused revocation revoked the grant")
	}
	if s := c.ConsoleSession.GetX(context.Background(), w.granted.ID); s.RevokedAt != nil {
		t.Fatal("a refused end ended the session")
	}
}
