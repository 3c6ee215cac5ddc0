package statussync_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/statussync"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

func TestPreferredSpreadsClustersAndMovesOnlyTheLeaversShare(t *testing.T) {
	t.Parallel()
	procs := []string{"host-a_100_x1", "host-b_200_x2", "host-c_300_x3"}
	count := map[string]int{}
	owner := map[uuid.UUID]string{}
	for i := 0; i < 3000; i++ {
		c := uuid.New()
		owner[c] = statussync.Preferred(c, procs)
		count[owner[c]]++
	}
	for _, p := range procs {
		if count[p] < 850 || count[p] > 1150 {
			t.Errorf("%s prefers %d of 3000 clusters; want about 1000 (%v)", p, count[p], count)
		}
	}
	moved := 0
	for c, was := range owner {
		now := statussync.Preferred(c, procs[:2])
		if was != procs[2] && now != was {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d clusters of the remaining processes moved when %s left", moved, procs[2])
	}
	if statussync.Preferred(uuid.New(), nil) != "" {
		t.Error("a cluster is preferred by someone among no processes")
	}
}

// leaseFixture is a database with three simulated clusters and the heartbeats of the
// processes the test plays.
type leaseFixture struct {
	t        *testing.T
	dsn      string
	store    *db.Store
	reg      *clusters.Registry
	clusters []*ent.Cluster
}

func newLeaseFixture(t *testing.T) *leaseFixture {
	t.Helper()
	f := &leaseFixture{t: t, dsn: testdb.NewDSN(t)}
	f.store = f.openStore()
	f.reg = clusters.New(f.store, clusters.Options{})
	t.Cleanup(f.reg.Close)
	cs := &testorg.Clusters{Store: f.store, Registry: f.reg}
	for i := 1; i <= 3; i++ {
		row, _ := cs.AddSim(t, fmt.Sprintf("sim-%d", i), nil, ns)
		f.clusters = append(f.clusters, row)
	}
	return f
}

// processes names two processes so that each is preferred for some of the clusters (the
// hashing may otherwise give one of them all three) and records their heartbeats.
func (f *leaseFixture) processes() (string, string) {
	f.t.Helper()
	for i := 0; ; i++ {
		p1, p2 := fmt.Sprintf("p1-%d", i), fmt.Sprintf("p2-%d", i)
		n := 0
		for _, c := range f.clusters {
			if statussync.Preferred(c.ID, []string{p1, p2}) == p1 {
				n++
			}
		}
		if n == 1 || n == 2 {
			f.beat(p1, time.Now())
			f.beat(p2, time.Now())
			return p1, p2
		}
	}
}

// openStore opens a store on a pool of its own (closing it cuts that process off).
func (f *leaseFixture) openStore() *db.Store {
	f.t.Helper()
	pool, err := pgxpool.New(context.Background(), f.dsn)
	if err != nil {
		f.t.Fatal(err)
	}
	s := db.NewStore(db.SQLDB(pool))
	f.t.Cleanup(func() { _ = s.SQL.Close(); pool.Close() })
	return s
}

func (f *leaseFixture) beat(proc string, at time.Time) {
	f.t.Helper()
	_, err := f.store.SQL.Exec(`INSERT INTO worker_heartbeats (id, started_at, beat_at) VALUES ($1, $2, $2)
		ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at`, proc, at)
	if err != nil {
		f.t.Fatal(err)
	}
}

// start runs a Syncer for proc on store with a 2 s lease; stop ends it (releasing its
// leases, as at a normal shutdown).
func (f *leaseFixture) start(proc string, store *db.Store) (s *statussync.Syncer, stop func()) {
	leases := statussync.NewLeases(store.SQL, proc, 2*time.Second, time.Hour)
	s = statussync.New(store, f.reg, quiet(), statussync.Options{
		Leases:     leases,
		Renew:      100 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
		Heartbeat:  50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	run := runner.New(ctx, quiet())
	run.Go("syncer "+proc, s.Run)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			run.Wait()
		}
	}
	f.t.Cleanup(stop)
	return s, stop
}

// watchers says, per cluster, which of the syncers run a watcher for it.
func (f *leaseFixture) watchers(syncers map[string]*statussync.Syncer) map[string][]string {
	out := map[string][]string{}
	for name, s := range syncers {
		for _, c := range f.clusters {
			if _, ok := s.State(c.ID); ok {
				out[c.Name] = append(out[c.Name], name)
			}
		}
	}
	return out
}

// sample checks for d that no cluster is ever watched by two processes, and returns
// the watchers seen last.
func (f *leaseFixture) sample(d time.Duration, syncers map[string]*statussync.Syncer) map[string][]string {
	f.t.Helper()
	var last map[string][]string
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		last = f.watchers(syncers)
		for c, ws := range last {
			if len(ws) > 1 {
				f.t.Fatalf("cluster %s is watched by %v at once", c, ws)
			}
		}
	}
	return last
}

func (f *leaseFixture) eventuallyAllWatchedBy(syncers map[string]*statussync.Syncer, within time.Duration, want ...string) {
	f.t.Helper()
	end := time.Now().Add(within)
	for {
		ws := f.sample(50*time.Millisecond, syncers)
		ok := len(ws) == len(f.clusters)
		for _, got := range ws {
			if len(got) != 1 || (len(want) > 0 && !slices.Contains(want, got[0])) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(end) {
			f.t.Fatalf("after %s the clusters are watched by %v; want each by one of %v", within, ws, want)
		}
	}
}

func TestEachClusterIsWatchedByOneProcess(t *testing.T) {
	t.Parallel()
	f := newLeaseFixture(t)
	p1, p2 := f.processes()
	s1, stop1 := f.start(p1, f.store)
	s2, _ := f.start(p2, f.store)
	both := map[string]*statussync.Syncer{p1: s1, p2: s2}
	f.eventuallyAllWatchedBy(both, 5*time.Second)
	// Steady state: exactly one watcher per cluster at every sample, where the hashing
	// puts it.
	ws := f.sample(time.Second, both)
	for _, c := range f.clusters {
		want := statussync.Preferred(c.ID, []string{p1, p2})
		if got := ws[c.Name]; len(got) != 1 || got[0] != want {
			t.Errorf("cluster %s watched by %v; want %s", c.Name, got, want)
		}
	}

	// A normal shutdown releases the leases: the other process takes the clusters at its
	// next renewal, well before they would expire.
	start := time.Now()
	stop1()
	f.beat(p1, time.Now().Add(-2*time.Hour)) // its heartbeat row goes stale with it
	f.eventuallyAllWatchedBy(map[string]*statussync.Syncer{p2: s2}, time.Second, p2)
	t.Logf("clusters taken over %s after a normal shutdown", time.Since(start).Round(time.Millisecond))
}

func TestAProcessCutOffStopsWatchingBeforeAnotherTakesOver(t *testing.T) {
	t.Parallel()
	f := newLeaseFixture(t)
	p1, p2 := f.processes()
	// p1 reaches the database through a pool of its own; closing it cuts p1 off without
	// any chance to release its leases, as a partition or a frozen process would.
	cutOff := f.openStore()
	s1, _ := f.start(p1, cutOff)
	s2, _ := f.start(p2, f.store)
	both := map[string]*statussync.Syncer{p1: s1, p2: s2}
	f.eventuallyAllWatchedBy(both, 5*time.Second)
	start := time.Now()
	_ = cutOff.SQL.Close()
	// Its heartbeat stops too, so p2 prefers every cluster; p1 stops its watchers within
	// half the lease, and p2 takes them once the leases expired (2 s). At no sample is a
	// cluster watched by both.
	f.beat(p1, time.Now().Add(-2*time.Hour))
	f.eventuallyAllWatchedBy(both, 10*time.Second, p2)
	took := time.Since(start)
	if took < 1500*time.Millisecond {
		t.Errorf("p2 took p1's clusters after %s, before their 2 s leases could have expired", took)
	}
	t.Logf("p1 cut off: p2 watches all %d clusters %s later", len(f.clusters), took.Round(time.Millisecond))
}
