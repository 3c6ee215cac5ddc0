package reconcile

import (
	"context"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/pendingadoption"
	"kv-shepherd.io/shepherd/ent/vm"
)

// Overview is what the admin's reconciliation page shows: every cluster's health and
// capabilities, the ghosts and the orphans. It only reads.
type Overview struct {
	Clusters   []*ent.Cluster
	Ghosts     []*ent.VM // newest observation first, at most the limit
	GhostTotal int
	Adoptions  []*ent.PendingAdoption // pending and ignored, by cluster, namespace, name
}

// LoadOverview reads the page's data; limit caps the ghost list.
func LoadOverview(ctx context.Context, client *ent.Client, limit int) (Overview, error) {
	var o Overview
	var err error
	if o.Clusters, err = client.Cluster.Query().Order(ent.Asc(cluster.FieldName)).All(ctx); err != nil {
		return o, err
	}
	ghosts := client.VM.Query().Where(vm.K8sExists(false), vm.DeletedAtIsNil(), vm.StatusNEQ(vm.StatusDELETED))
	if o.GhostTotal, err = ghosts.Clone().Count(ctx); err != nil {
		return o, err
	}
	if o.Ghosts, err = ghosts.Order(ent.Desc(vm.FieldSyncedAt), ent.Asc(vm.FieldName)).Limit(limit).All(ctx); err != nil {
		return o, err
	}
	o.Adoptions, err = client.PendingAdoption.Query().Where(pendingadoption.StatusNEQ(pendingadoption.StatusADOPTED)).
		Order(ent.Asc(pendingadoption.FieldClusterName), ent.Asc(pendingadoption.FieldNamespace), ent.Asc(pendingadoption.FieldName)).
		All(ctx)
	return o, err
}

// Counts are the overview's headline numbers, for the admin home card.
func Counts(ctx context.Context, client *ent.Client) (ghosts, orphans int, err error) {
	if ghosts, err = client.VM.Query().Where(vm.K8sExists(false), vm.DeletedAtIsNil(), vm.StatusNEQ(vm.StatusDELETED)).Count(ctx); err != nil {
		return 0, 0, err
	}
	orphans, err = client.PendingAdoption.Query().Where(pendingadoption.StatusEQ(pendingadoption.StatusPENDING)).Count(ctx)
	return ghosts, orphans, err
}
