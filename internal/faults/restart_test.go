package faults

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// The process is SIGKILLed three times with work in flight — during creates, during a
// mix of creates and stops, and right after approvals — and restarted each time. River's
// rescuer keeps its production delay (job timeout + 1 m, over ten minutes): the restarted
// process must hand the dead one's running jobs back itself, so every ticket in flight at
// the kill is final well within 60 s of the restart, with exactly one VM and one audit
// row each. On the same machine the dead process is known gone at once (its pid is);
// elsewhere its heartbeat must first go stale (the production defaults, 20 s).
func TestKilledUnderLoadFinishesSoonAfterRestart(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.NewDSN(t)
	simDir := t.TempDir()
	addr := freeAddr(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + simDir, "SHEPHERD_SIM_STEP_DELAY=200ms",
		"SHEPHERD_JOB_RETRY_BASE=100ms", "SHEPHERD_JOB_POLL_INTERVAL=100ms",
		"SHEPHERD_DB_MAX_CONNS=10", "SHEPHERD_RIVER_MAX_WORKERS=2", "SHEPHERD_PROVISIONING_WORKERS=3", "SHEPHERD_POWER_WORKERS=2"}
	proc := startChild(t, "run-0", addr, env)
	store, gov := open(t, dsn)
	org := testorg.New(t, ctx, store.Ent, "sim-restart")
	alice, err := testorg.Who(ctx, store.Ent, org.Alice)
	if err != nil {
		t.Fatal(err)
	}

	var created []uuid.UUID // VM ids
	var stops []uuid.UUID   // VM ids with a stop ticket
	create := func(n int) (tickets []uuid.UUID) {
		for range n {
			ev, v, err := org.Approved(ctx, store.Ent, gov)
			if err != nil {
				t.Fatal(err)
			}
			created = append(created, v.ID)
			tickets = append(tickets, ticketOf(t, store, ev).ID)
		}
		return tickets
	}
	stop := func(vms []uuid.UUID) (tickets []uuid.UUID) {
		for _, id := range vms {
			tk, err := gov.RequestPower(ctx, alice, id, "stop", "")
			if err != nil {
				t.Fatal(err)
			}
			stops = append(stops, id)
			tickets = append(tickets, tk.ID)
		}
		return tickets
	}

	rounds := []struct {
		name string
		work func() []uuid.UUID
		// killAfter is how many of the round's tickets must be final before the kill.
		killAfter int
		// elsewhere makes the dead process look like it ran on another machine (or in a
		// container that was replaced): only its stale heartbeat tells it is gone.
		elsewhere bool
	}{
		{"during creates", func() []uuid.UUID { return create(10) }, 2, false},
		{"during creates and stops", func() []uuid.UUID { return append(stop(created[:10]), create(10)...) }, 5, false},
		{"right after approvals", func() []uuid.UUID { return create(10) }, 0, false},
		{"on another machine", func() []uuid.UUID { return create(10) }, 2, true},
	}
	for i, r := range rounds {
		tickets := r.work()
		waitFor(t, 60*time.Second, r.name+": progress before the kill", func() bool { return final(t, store, tickets) >= r.killAfter })
		proc.kill(t)
		inFlight := len(tickets) - final(t, store, tickets)
		// Jobs left 'running' by the dead process whose ticket is not final: only the
		// hand-back (or River's rescuer) can run them again. The others were snoozed
		// until their next check, or had finished.
		var running int
		err := store.SQL.QueryRowContext(ctx, `SELECT count(*) FROM river_job j JOIN approval_tickets t ON t.event_id::text = j.args->>'event_id'
			WHERE j.state = 'running' AND t.status NOT IN ('SUCCESS', 'FAILED')`).Scan(&running)
		if err != nil {
			t.Fatal(err)
		}
		if inFlight == 0 {
			t.Fatalf("%s: every ticket was final at the kill; it came too late to test anything", r.name)
		}
		if r.elsewhere {
			if _, err := store.SQL.ExecContext(ctx, "UPDATE worker_heartbeats SET boot_id = 'another-machine'"); err != nil {
				t.Fatal(err)
			}
		}

		restart := time.Now()
		proc = startChild(t, "run-"+string(rune('1'+i)), addr, env)
		ready := time.Since(restart)
		waitFor(t, 60*time.Second, r.name+": every ticket final after the restart", func() bool { return final(t, store, tickets) == len(tickets) })
		t.Logf("%s: killed with %d of %d tickets in flight (%d of their jobs running); restart → ready %s, → all final %s",
			r.name, inFlight, len(tickets), running, ready.Round(10*time.Millisecond), time.Since(restart).Round(10*time.Millisecond))
		for _, id := range tickets {
			if tk, err := store.Ent.ApprovalTicket.Get(ctx, id); err != nil || tk.Status != approvalticket.StatusSUCCESS {
				t.Fatalf("%s: ticket %s ended %v (%v)", r.name, id, tk.Status, err)
			}
		}
	}
	proc.stop(t)

	cluster, err := sim.Open(sim.Options{StateFile: filepath.Join(simDir, "sim-restart.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	onCluster, err := cluster.ListVMs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]int{}
	for _, v := range onCluster {
		uids[v.UID]++
	}
	if len(onCluster) != len(created) {
		t.Errorf("%d VMs on the cluster for %d creates", len(onCluster), len(created))
	}
	stopped := map[uuid.UUID]bool{}
	for _, id := range stops {
		stopped[id] = true
	}
	for _, id := range created {
		row := vmRow(t, store, id)
		want := vm.StatusRUNNING
		if stopped[id] {
			want = vm.StatusSTOPPED
		}
		if row.Status != want || uids[row.K8sUID] != 1 {
			t.Errorf("vm %s: %s (want %s), %d cluster VMs with its uid %q", row.Name, row.Status, want, uids[row.K8sUID], row.K8sUID)
		}
		audits := map[string]int{}
		rows, err := store.Ent.AuditLog.Query().Where(auditlog.ResourceID(id.String())).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range rows {
			audits[a.Action]++
		}
		if audits["vm.create"] != 1 || (stopped[id] && audits["vm.stop"] != 1) {
			t.Errorf("vm %s audit rows: %v", row.Name, audits)
		}
	}
	var rescued, handedBack int
	err = store.SQL.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE metadata ? 'river:rescue_count'),
		count(*) FILTER (WHERE metadata ? 'shepherd:handed_back_count') FROM river_job`).Scan(&rescued, &handedBack)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs handed back by the restarted processes, %d rescued by River", handedBack, rescued)
	if rescued != 0 {
		t.Errorf("%d jobs waited for River's rescuer", rescued)
	}
	if handedBack == 0 {
		t.Error("no kill found a job running: the test proved nothing about handing back")
	}
}

// final counts the tickets that reached SUCCESS or FAILED.
func final(t *testing.T, store *db.Store, tickets []uuid.UUID) int {
	t.Helper()
	n, err := store.Ent.ApprovalTicket.Query().Where(approvalticket.IDIn(tickets...),
		approvalticket.StatusIn(approvalticket.StatusSUCCESS, approvalticket.StatusFAILED)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
