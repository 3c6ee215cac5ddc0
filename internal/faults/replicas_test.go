package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// TestReplicasShareClusterWatchersAndTakeOverAfterAKill runs two Shepherd processes on
// one database with three simulated clusters: at every sample each cluster is watched by
// exactly one of them (an unexpired lease, held by a live process), and when the process
// holding the most is SIGKILLed the other holds all three within the heartbeat's
// dead-after plus the lease (here 2 s + 2 s) and a renewal.
func TestReplicasShareClusterWatchersAndTakeOverAfterAKill(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.NewDSN(t)
	store, _ := open(t, dsn)
	testorg.New(t, ctx, store.Ent, "sim-r1")
	for _, name := range []string{"sim-r2", "sim-r3"} {
		store.Ent.Cluster.Create().SetName(name).SetEnvironment("test").SetProvider("sim").SetStatus("HEALTHY").
			SetStorageClasses([]string{"standard"}).SetDefaultStorageClass("standard").SaveX(ctx)
	}
	// FAULTS_DEAD_AFTER=20s FAULTS_HEARTBEAT=5s measure the failover with the defaults.
	deadAfter, beat := envOr("FAULTS_DEAD_AFTER", "2s"), envOr("FAULTS_HEARTBEAT", "500ms")
	limit, err := time.ParseDuration(deadAfter)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + t.TempDir(),
		"SHEPHERD_WORKER_HEARTBEAT=" + beat, "SHEPHERD_WORKER_DEAD_AFTER=" + deadAfter}
	procs := map[int]*child{}
	for _, name := range []string{"replica-a", "replica-b"} {
		c := startChild(t, name, freeAddr(t), env)
		procs[c.cmd.Process.Pid] = c
	}

	// leases maps each cluster to the pid of the live process holding its unexpired
	// lease (0: none, or a holder without a heartbeat row).
	leases := func() map[string]int {
		rows, err := store.SQL.QueryContext(ctx, `SELECT c.name, COALESCE(h.pid, 0) FROM clusters c
			LEFT JOIN cluster_watch_leases l ON l.id = c.id AND l.expires_at > now()
			LEFT JOIN worker_heartbeats h ON h.id = l.holder
			WHERE c.enabled`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var name string
			var pid int
			if err := rows.Scan(&name, &pid); err != nil {
				t.Fatal(err)
			}
			out[name] = pid
		}
		return out
	}
	allHeldBy := func(alive map[int]*child) (map[string]int, bool) {
		l := leases()
		for _, pid := range l {
			if alive[pid] == nil {
				return l, false
			}
		}
		return l, len(l) == 3
	}
	waitFor(t, 20*time.Second, "every cluster leased by a replica", func() bool { _, ok := allHeldBy(procs); return ok })
	// Steady state, sampled for 2 s: one live holder per cluster throughout.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if l, ok := allHeldBy(procs); !ok {
			t.Fatalf("a cluster without a live watcher at steady state: %v", l)
		}
	}

	// Kill the process that holds the most clusters.
	count := map[int]int{}
	for _, pid := range leases() {
		count[pid]++
	}
	var pids []int
	for pid := range count {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return count[pids[i]] > count[pids[j]] })
	victim := pids[0]
	var survivor *child
	for pid, c := range procs {
		if pid != victim {
			survivor = c
		}
	}
	// What the survivor has listed so far, per cluster: a new list after the kill is its
	// first work as the new owner.
	listed := func(name string) int {
		return strings.Count(survivor.tail(1<<30), fmt.Sprintf("msg=\"status sync listed\" component=statussync cluster=%s", name))
	}
	before := map[string]int{}
	victims := []string{}
	for name, pid := range leases() {
		if pid == victim {
			victims = append(victims, name)
			before[name] = listed(name)
		}
	}
	procs[victim].kill(t)
	start := time.Now()
	delete(procs, victim)
	waitFor(t, 3*limit+10*time.Second, "the survivor holding every cluster", func() bool { _, ok := allHeldBy(procs); return ok })
	took := time.Since(start)
	t.Logf("killed the holder of %d clusters; the survivor held all 3 after %s", count[victim], took.Round(10*time.Millisecond))
	if took > limit+limit/2+time.Second {
		t.Errorf("takeover took %s; want within the dead-after (%s, the lease as long) and a renewal", took, limit)
	}
	// The survivor re-lists each cluster it took over (its log says so): its first work as
	// their watcher.
	for _, name := range victims {
		waitFor(t, limit+10*time.Second, "the survivor listing "+name, func() bool { return listed(name) > before[name] })
	}
	t.Logf("failover: SIGKILL → the survivor's first list of the dead process's clusters: %s",
		time.Since(start).Round(10*time.Millisecond))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
