package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testcluster"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// TestWatcherFailoverOnARealAPIServer: two replicas share the real test cluster (the
// KubeVirt provider against kube-apiserver); the one watching it is SIGKILLed, and a VM
// started on the cluster right after — by kubectl, behind Shepherd's back — shows RUNNING
// in Shepherd's database once the survivor has taken the watch over.
func TestWatcherFailoverOnARealAPIServer(t *testing.T) {
	shared := testcluster.FromEnv(t)
	ctx := context.Background()
	dsn := testdb.NewDSN(t)
	store, _ := open(t, dsn)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(shared.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.DevKubeCluster(ctx, store, box, kubeconfig); err != nil {
		t.Fatal(err)
	}
	cl := store.Ent.Cluster.Query().Where(cluster.Name(seed.DevKubeClusterName)).OnlyX(ctx)

	ns := shared.Namespace(t, "faults-failover")
	name := "failover-vm"
	manifest := `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: ` + name + `
  namespace: ` + ns + `
  labels:
    kubevirt-shepherd.io/managed-by: kubevirt-shepherd
spec:
  runStrategy: Halted
  template:
    spec:
      domain:
        devices: {}
        resources:
          requests:
            memory: 64Mi
`
	file := t.TempDir() + "/vm.yaml"
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := shared.Kubectl(t, "apply", "-f", file); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	row := store.Ent.VM.Create().SetName(name).SetServiceID(uuid.New()).SetSystemID(uuid.New()).
		SetNamespaceID(uuid.New()).SetNamespaceName(ns).SetEnvironment(vm.EnvironmentTest).SetClusterID(cl.ID).
		SetInstanceIndex(1).SetInstanceSizeID(uuid.New()).SetTemplateID(uuid.New()).SetTicketID(uuid.New()).
		SetCreatedBy(uuid.New()).SetStatus(vm.StatusSTOPPED).SetCreatedAt(time.Now().Add(-time.Hour)).SaveX(ctx)

	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key),
		"SHEPHERD_SIM_STATE_DIR=" + t.TempDir(), "SHEPHERD_WORKER_HEARTBEAT=500ms", "SHEPHERD_WORKER_DEAD_AFTER=2s"}
	procs := map[int]*child{}
	for _, n := range []string{"replica-a", "replica-b"} {
		c := startChild(t, n, freeAddr(t), env)
		procs[c.cmd.Process.Pid] = c
	}
	holder := func() int {
		var pid int
		err := store.SQL.QueryRowContext(ctx, `SELECT COALESCE(h.pid, 0) FROM cluster_watch_leases l
			LEFT JOIN worker_heartbeats h ON h.id = l.holder WHERE l.id = $1 AND l.expires_at > now()`, cl.ID).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	waitFor(t, 20*time.Second, "a replica watching kube-test", func() bool { return procs[holder()] != nil })
	// The watcher has listed the VM (it is known to exist on the cluster).
	waitFor(t, 20*time.Second, "the VM seen on the cluster", func() bool {
		r := store.Ent.VM.GetX(ctx, row.ID)
		return r.K8sExists && r.SyncedAt != nil
	})
	victim := holder()
	procs[victim].kill(t)
	delete(procs, victim)
	start := time.Now()
	if out, err := shared.Kubectl(t, "patch", "vm", "-n", ns, name, "--type=merge", "-p", `{"spec":{"runStrategy":"Always"}}`); err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "the started VM RUNNING in Shepherd", func() bool {
		return store.Ent.VM.GetX(ctx, row.ID).Status == vm.StatusRUNNING
	})
	t.Logf("the VM started on the cluster right after the watcher's SIGKILL showed RUNNING %s later", time.Since(start).Round(10*time.Millisecond))
	for pid := range procs {
		if holder() != pid {
			t.Errorf("the survivor (pid %d) does not hold kube-test's lease (holder pid %d)", pid, holder())
		}
	}
}
