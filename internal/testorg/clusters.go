package testorg

import (
	"context"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// Clusters is a fresh database with a cluster registry over it, for tests of what
// watches, checks and reconciles clusters.
type Clusters struct {
	Store    *db.Store
	Registry *clusters.Registry
}

// NewClusters opens a migrated test database and a registry; both close with the test.
func NewClusters(tb testing.TB) *Clusters {
	tb.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(tb)))
	tb.Cleanup(func() { _ = store.SQL.Close() })
	reg := clusters.New(store, clusters.Options{})
	tb.Cleanup(reg.Close)
	return &Clusters{Store: store, Registry: reg}
}

// AddSim records a healthy simulated test cluster (mutate may change the record before
// it is saved, e.g. its capabilities) and returns the record and the simulated cluster.
// Namespaces listed in namespaces exist on it.
func (c *Clusters) AddSim(tb testing.TB, name string, mutate func(*ent.ClusterCreate), namespaces ...string) (*ent.Cluster, *sim.Cluster) {
	tb.Helper()
	ctx := context.Background()
	create := c.Store.Ent.Cluster.Create().SetName(name).SetEnvironment(cluster.EnvironmentTest).
		SetProvider(cluster.ProviderSim).SetStatus(cluster.StatusHEALTHY)
	if mutate != nil {
		mutate(create)
	}
	row, err := create.Save(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	s := c.Registry.Sim(ctx, name)
	if s == nil {
		tb.Fatalf("no simulated cluster for %s", name)
	}
	for _, ns := range namespaces {
		if _, err := s.EnsureNamespace(ctx, ns, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return row, s
}
