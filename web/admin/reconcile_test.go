package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestReconcilePage(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	c := env.App.Store.Ent
	k := c.Cluster.Query().Where(cluster.Name("sim-test-a")).OnlyX(ctx)
	c.Cluster.UpdateOneID(k.ID).SetStatus(cluster.StatusUNREACHABLE).SetStatusMessage("Cluster API unreachable: TIMEOUT").ExecX(ctx)
	ghost := c.VM.Create().SetName("dev-shop-web-7").SetServiceID(uuid.New()).SetSystemID(uuid.New()).SetNamespaceID(uuid.New()).
		SetNamespaceName("dev").SetEnvironment(vm.EnvironmentTest).SetClusterID(k.ID).SetInstanceIndex(7).
		SetInstanceSizeID(uuid.New()).SetTemplateID(uuid.New()).SetTicketID(uuid.New()).SetCreatedBy(uuid.New()).
		SetStatus(vm.StatusUNKNOWN).SetK8sExists(false).SetStatusMessage("not found on cluster sim-test-a — deleted outside Shepherd?").
		SetSyncedAt(time.Now()).SaveX(ctx)
	c.PendingAdoption.Create().SetClusterID(k.ID).SetClusterName(k.Name).SetNamespace("dev").SetName("dev-shop-api-1").
		SetSystemLabel("shop").SetServiceLabel("api").SetLastSeenAt(time.Now()).ExecX(ctx)
	c.PendingAdoption.Create().SetClusterID(k.ID).SetClusterName(k.Name).SetNamespace("dev").SetName("dev-shop-web-1").
		SetSystemLabel("shop").SetServiceLabel("web").SetAdoptable(true).SetLastSeenAt(time.Now()).ExecX(ctx)

	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin/reconcile")
	if status != http.StatusOK {
		t.Fatalf("/admin/reconcile: %d", status)
	}
	for _, want := range []string{`data-admin-tab="reconcile"`, `data-testid="read-only-note"`, `data-row="sim-prod-a"`,
		"Cluster API unreachable: TIMEOUT", `href="/vms/` + ghost.ID.String() + `"`, "deleted outside Shepherd?",
		`data-row="dev-shop-api-1"`, `data-adoptable="no"`, `data-adoptable="yes"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if row := rowOf(body, "sim-test-a"); !strings.Contains(row, `data-status="UNREACHABLE"`) {
		t.Errorf("cluster row: %s", row)
	}
	_, home := carol.get(t, "/admin")
	if !strings.Contains(home, `data-testid="card-reconcile"`) || !strings.Contains(home, "ghost VM · 2 orphans") {
		t.Error("admin home lacks the cluster sync card")
	}

	for _, sub := range []string{"demo-alice", "demo-bob", "demo-dana"} {
		if status, _ := signIn(t, env, sub).get(t, "/admin/reconcile"); status != http.StatusForbidden {
			t.Errorf("%s: %d", sub, status)
		}
	}
}
