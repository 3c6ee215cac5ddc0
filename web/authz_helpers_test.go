package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
)

func governanceRequester(ctx context.Context, env *apptest.Env, username string) (governance.Requester, error) {
	u, err := env.App.Store.Ent.User.Query().Where(user.Username(username)).Only(ctx)
	if err != nil {
		return governance.Requester{}, err
	}
	p, err := authz.Load(ctx, env.App.Store.Ent, u.ID, u.Username)
	return governance.Requester{User: u, Principal: p}, err
}

// newVM writes a VM row of the service (as an approval would) and returns its id.
func newVM(t testing.TB, env *apptest.Env, svc, ns, size uuid.UUID) string {
	ctx := context.Background()
	c := env.App.Store.Ent
	s := c.Service.GetX(ctx, svc)
	n := c.Namespace.GetX(ctx, ns)
	v := c.VM.Create().SetName("dev-shop-web-99").SetServiceID(svc).SetSystemID(s.SystemID).SetNamespaceID(ns).
		SetNamespaceName(n.Name).SetEnvironment(vm.Environment(n.Environment)).SetClusterID(c.Cluster.Query().FirstIDX(ctx)).
		SetInstanceIndex(99).SetInstanceSizeID(size).SetTemplateID(c.Template.Query().FirstIDX(ctx)).SetTicketID(uuid.New()).
		SetCreatedBy(s.ID).SaveX(ctx)
	return v.ID.String()
}

// consoleRecords writes a live console session and a running grant on the VM (for the
// admin console routes) and returns their ids.
func consoleRecords(t testing.TB, env *apptest.Env, vmID string, userID uuid.UUID) (string, string) {
	ctx := context.Background()
	c := env.App.Store.Ent
	v := c.VM.GetX(ctx, uuid.MustParse(vmID))
	now := time.Now()
	g := c.ConsoleGrant.Create().SetVMID(v.ID).SetUserID(userID).SetTicketID(uuid.New()).SetGrantedBy("bob").
		SetStartsAt(now).SetExpiresAt(now.Add(time.Hour)).SaveX(ctx)
	s := c.ConsoleSession.Create().SetTicketID(uuid.New()).SetUserID(userID).SetUserName("alice").SetVMID(v.ID).SetVMName(v.Name).
		SetEnvironment("test").SetClusterID(v.ClusterID).SetOpenedAt(now).SetEndsAt(now.Add(time.Hour)).SaveX(ctx)
	return s.ID.String(), g.ID.String()
}
