package faults

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// The process is SIGKILLed after the cluster applied the VM and before the outcome
// committed. The restarted process hands the dead one's job back at once (River's
// rescuer keeps its delay of job timeout + 1 m), it runs again, and exactly one VM
// exists — on the cluster and in the database.
func TestKilledMidJobResumesWithOneVM(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.NewDSN(t)
	simDir := t.TempDir()
	addr := freeAddr(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + simDir,
		// Each phase lasts a second, so the VM is still booting at the kill.
		"SHEPHERD_SIM_STEP_DELAY=1s", "SHEPHERD_K8S_OPERATION_TIMEOUT=2s", "SHEPHERD_VM_READY_TIMEOUT=5s",
		"SHEPHERD_JOB_RETRY_BASE=100ms", "SHEPHERD_JOB_POLL_INTERVAL=100ms",
		"SHEPHERD_DB_MAX_CONNS=10", "SHEPHERD_RIVER_MAX_WORKERS=2", "SHEPHERD_PROVISIONING_WORKERS=2", "SHEPHERD_POWER_WORKERS=1"}
	first := startChild(t, "first", addr, env)

	store, gov := open(t, dsn)
	org := testorg.New(t, ctx, store.Ent, "sim-kill")
	ev, v, err := org.Approved(ctx, store.Ent, gov)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the VM to be applied", func() bool {
		return stepDone(ticketOf(t, store, ev), domain.StepApplied)
	})
	first.kill(t)

	tk := ticketOf(t, store, ev)
	if tk.Status != approvalticket.StatusEXECUTING || vmRow(t, store, v.ID).Status != vm.StatusCREATING {
		t.Fatalf("at the kill: ticket %s, vm %s (the kill came too late to test anything)", tk.Status, vmRow(t, store, v.ID).Status)
	}

	second := startChild(t, "second", addr, env)
	// The row may show STARTING a moment after the ticket's success: the new process's
	// status sync can apply a list taken while the VM still booted; the watch brings
	// RUNNING right after.
	waitFor(t, 30*time.Second, "the handed-back job to finish", func() bool {
		tk := ticketOf(t, store, ev)
		return tk.Status == approvalticket.StatusFAILED ||
			(tk.Status == approvalticket.StatusSUCCESS && vmRow(t, store, v.ID).Status == vm.StatusRUNNING)
	})
	second.stop(t)

	tk, row := ticketOf(t, store, ev), vmRow(t, store, v.ID)
	if tk.Status != approvalticket.StatusSUCCESS || row.Status != vm.StatusRUNNING {
		t.Fatalf("after restart: ticket %s (%s), vm %s", tk.Status, tk.ErrorMessage, row.Status)
	}
	cluster, err := sim.Open(sim.Options{StateFile: filepath.Join(simDir, "sim-kill.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	vms, err := cluster.ListVMs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 1 || vms[0].UID != row.K8sUID {
		t.Fatalf("cluster has %d VMs %+v; the row says uid %s", len(vms), vms, row.K8sUID)
	}
	// The kill may find the job running (a check run, handed back by the restart) or
	// snoozed until its next check; either way it completes, with one VM.
	var state string
	err = store.SQL.QueryRowContext(ctx, "SELECT state FROM river_job WHERE kind = 'vm_create' AND args->>'event_id' = $1",
		ev.String()).Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	if state != "completed" {
		t.Fatalf("job %s", state)
	}
	n, err := store.Ent.VM.Query().Count(ctx)
	if err != nil || n != 1 {
		t.Fatalf("%d VM rows (%v)", n, err)
	}
}

func open(t *testing.T, dsn string) (*db.Store, *governance.Service) {
	t.Helper()
	pool, err := db.Open(context.Background(), dsn, db.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := db.NewStore(db.SQLDB(pool))
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return store, &governance.Service{Store: store, Jobs: ins}
}

func ticketOf(t *testing.T, store *db.Store, ev uuid.UUID) *ent.ApprovalTicket {
	t.Helper()
	tk, err := store.Ent.ApprovalTicket.Query().Where(approvalticket.EventID(ev)).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func vmRow(t *testing.T, store *db.Store, id uuid.UUID) *ent.VM {
	t.Helper()
	v, err := store.Ent.VM.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func stepDone(tk *ent.ApprovalTicket, name string) bool {
	for _, s := range tk.Steps {
		if s.Name == name && s.State == domain.StepStateDone {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
