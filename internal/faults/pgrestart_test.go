package faults

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/pgembed"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// PostgreSQL goes away for 30 s while workers are busy and comes back; the portal is not
// restarted. The pool and River reconnect, every approved VM ends RUNNING within 60 s of
// the database's return — jobs whose outcome River could not record meanwhile are handed
// back by the liveness monitor, not left to River's rescuer (2 minutes) — and approvals
// made after the return run too.
func TestWorkersSurvivePostgresRestart(t *testing.T) {
	ctx := context.Background()
	pgOpts := pgembed.Options{Dir: filepath.Join(t.TempDir(), "pg"), Port: freePort(t), Fast: true}
	inst, err := pgembed.Start(ctx, pgOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = inst.Stop(stopCtx)
	})
	if err := inst.EnsureDatabase(ctx, "shepherd"); err != nil {
		t.Fatal(err)
	}
	dsn := inst.DSN("shepherd")
	env := apptest.Start(t, apptest.Production, func(c *config.Config) {
		c.DatabaseURL = dsn
		c.SimStepDelay = 400 * time.Millisecond
	})
	store, gov := open(t, dsn)
	org := testorg.New(t, ctx, store.Ent, "sim-pg")

	var events []uuid.UUID
	for range 6 {
		ev, _, err := org.Approved(ctx, store.Ent, gov)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	// Restart while jobs are in flight (each takes ~1 s of simulated boot).
	time.Sleep(300 * time.Millisecond)
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := inst.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Second)
	if inst, err = pgembed.Start(ctx, pgOpts); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitFor(t, 20*time.Second, "the approval use case to reach the database again", func() bool {
		ev, _, err := org.Approved(ctx, store.Ent, gov)
		if err == nil {
			events = append(events, ev)
		}
		return err == nil
	})
	waitFor(t, time.Until(back.Add(60*time.Second)), "every job to finish within 60 s of the database's return", func() bool {
		n, err := store.Ent.ApprovalTicket.Query().Where(approvalticket.StatusIn(approvalticket.StatusSUCCESS, approvalticket.StatusFAILED)).Count(ctx)
		return err == nil && n == len(events)
	})
	t.Logf("database back → every ticket final: %s", time.Since(back).Round(100*time.Millisecond))
	// River's rescuer (2 minutes after an attempt started) cannot have stepped in: the
	// attempts began before the outage, at most ~95 s before this point.
	handed := strings.Count(env.Logs.String(), "job whose outcome was never recorded handed back")
	t.Logf("jobs handed back after the outage: %d", handed)
	for _, ev := range events {
		tk := ticketOf(t, store, ev)
		if tk.Status != approvalticket.StatusSUCCESS || vmRow(t, store, *tk.VMID).Status != vm.StatusRUNNING {
			t.Errorf("ticket %s: %s %q, vm %s", tk.ID, tk.Status, tk.ErrorMessage, vmRow(t, store, *tk.VMID).Status)
		}
	}
	resp, err := http.Get(env.URL + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ready after the restart: %d", resp.StatusCode)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
