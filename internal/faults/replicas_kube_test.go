package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testcluster"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestWatcherFailoverOnARealAPIServer: two replicas share the real test cluster (the
// KubeVirt provider against kube-apiserver); the one watching it is SIGKILLed, and a VM
// started on the cluster right after — by kubectl, behind Shepherd's back — shows RUNNING
// in Shepherd's database once the survivor has taken the watch over.
func TestWatcherFailoverOnARealAPIServer(t *testing.T) {
	shared := testcluster.FromEnv(t)
	ctx := context.Background()
	k := withKubeTest(t, shared)
	dsn, store, key, cl := k.dsn, k.store, k.key, k.cluster

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

// TestApprovalsRunOnceWithTwoReplicas approves VMs onto the real test cluster while two
// replicas run workers: every create runs to RUNNING, each VM exists once on the cluster,
// and every job completed once (whichever replica fetched it).
func TestApprovalsRunOnceWithTwoReplicas(t *testing.T) {
	shared := testcluster.FromEnv(t)
	ctx := context.Background()
	k := withKubeTest(t, shared)
	dsn, store, gov, key := k.dsn, k.store, k.gov, k.key
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key),
		"SHEPHERD_SIM_STATE_DIR=" + t.TempDir(), "SHEPHERD_JOB_POLL_INTERVAL=100ms", "SHEPHERD_JOB_RETRY_BASE=100ms",
		"SHEPHERD_WORKER_HEARTBEAT=500ms", "SHEPHERD_WORKER_DEAD_AFTER=2s"}
	for _, n := range []string{"replica-a", "replica-b"} {
		startChild(t, n, freeAddr(t), env)
	}
	// The organisation after the first start: its users take the roles the start seeded.
	org := testorg.New(t, ctx, store.Ent, "sim-unused")
	org.Cluster = k.cluster
	ns := shared.Namespace(t, "o") // Shepherd namespace names have at most 15 characters
	org.Namespace = store.Ent.Namespace.Create().SetName(ns).SetEnvironment("test").SaveX(ctx)
	waitFor(t, 60*time.Second, "kube-test checked healthy", func() bool {
		return store.Ent.Cluster.GetX(ctx, org.Cluster.ID).Status == cluster.StatusHEALTHY
	})
	const n = 6
	var events []uuid.UUID
	var vms []uuid.UUID
	for range n {
		ev, v, err := org.Approved(ctx, store.Ent, gov)
		if err != nil {
			var ve *domain.ValidationError
			if errors.As(err, &ve) {
				t.Fatalf("approve onto kube-test: %v", ve.Fields)
			}
			t.Fatal(err)
		}
		events, vms = append(events, ev), append(vms, v.ID)
	}
	waitFor(t, 120*time.Second, "every VM RUNNING", func() bool {
		for _, id := range vms {
			if store.Ent.VM.GetX(ctx, id).Status != vm.StatusRUNNING {
				return false
			}
		}
		return true
	})
	// The rows may show RUNNING (status sync) a moment before the jobs record it.
	var completed, runners int
	waitFor(t, 60*time.Second, "every create job completed", func() bool {
		err := store.SQL.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'),
			count(DISTINCT attempted_by[array_length(attempted_by, 1)]) FROM river_job WHERE kind = 'vm_create'`).Scan(&completed, &runners)
		if err != nil {
			t.Fatal(err)
		}
		return completed == n
	})
	for _, ev := range events {
		if tk := ticketOf(t, store, ev); tk.Status != approvalticket.StatusSUCCESS {
			t.Errorf("ticket %s: %s (%s)", tk.ID, tk.Status, tk.ErrorMessage)
		}
	}
	out, err := shared.Kubectl(t, "get", "vm", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatalf("kubectl get vm: %v\n%s", err, out)
	}
	if got := len(strings.Fields(out)); got != n {
		t.Fatalf("%d VMs on the cluster; want %d:\n%s", got, n, out)
	}
	t.Logf("%d creates approved with two replicas: each ran once; the last attempts came from %d replica(s)", n, runners)
}

// kubeTest is a fresh database with the real test cluster registered as kube-test,
// sealed with an encryption key the replicas are given.
type kubeTest struct {
	dsn     string
	store   *db.Store
	gov     *governance.Service
	key     []byte
	cluster *ent.Cluster
}

func withKubeTest(t *testing.T, shared *testcluster.Shared) kubeTest {
	t.Helper()
	k := kubeTest{dsn: testdb.NewDSN(t), key: make([]byte, 32)}
	k.store, k.gov = open(t, k.dsn)
	if _, err := rand.Read(k.key); err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(k.key)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(shared.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.DevKubeCluster(t.Context(), k.store, box, kubeconfig); err != nil {
		t.Fatal(err)
	}
	k.cluster = k.store.Ent.Cluster.Query().Where(cluster.Name(seed.DevKubeClusterName)).OnlyX(t.Context())
	return k
}
