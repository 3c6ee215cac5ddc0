package admin

import (
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

// ghostLimit caps the ghost list: after a cluster rebuild there can be thousands.
const ghostLimit = 200

// reconcile shows the cluster sync page (read-only).
func (h *Handler) reconcile(c echo.Context) error {
	o, err := reconcile.LoadOverview(c.Request().Context(), h.Catalog.Store.Ent, ghostLimit)
	if err != nil {
		return err
	}
	m := adminview.Reconcile{GhostTotal: o.GhostTotal}
	names := map[uuid.UUID]string{}
	for _, k := range o.Clusters {
		names[k.ID] = k.Name
		if k.DeletedAt != nil {
			continue // retired: named in history, no longer synced
		}
		r := adminview.SyncCluster{ID: k.ID.String(), Name: k.Name, Environment: string(k.Environment), Provider: string(k.Provider),
			Status: string(k.Status), StatusMessage: k.StatusMessage, Enabled: k.Enabled, KubeVirtVersion: k.KubevirtVersion,
			StorageClasses: k.StorageClasses, DefaultStorageClass: k.DefaultStorageClass, LastCheck: "never"}
		r.Capabilities = append(r.Capabilities, k.GpuDevices...)
		for _, hp := range k.Hugepages {
			r.Capabilities = append(r.Capabilities, "hugepages "+hp)
		}
		if k.DedicatedCPU {
			r.Capabilities = append(r.Capabilities, "dedicated CPU")
		}
		if k.LastCheckedAt != nil {
			r.LastCheck, r.LastCheckTitle = views.Ago(*k.LastCheckedAt), views.Timestamp(*k.LastCheckedAt)
		}
		m.Clusters = append(m.Clusters, r)
	}
	for _, v := range o.Ghosts {
		g := adminview.GhostRow{ID: v.ID.String(), Name: v.Name, Cluster: names[v.ClusterID], Namespace: v.NamespaceName,
			Status: string(v.Status), Message: v.StatusMessage}
		if v.SyncedAt != nil {
			g.Seen, g.SeenTitle = views.Ago(*v.SyncedAt), views.Timestamp(*v.SyncedAt)
		}
		m.Ghosts = append(m.Ghosts, g)
	}
	for _, a := range o.Adoptions {
		m.Orphans = append(m.Orphans, adminview.OrphanRow{Cluster: a.ClusterName, Namespace: a.Namespace, Name: a.Name,
			System: a.SystemLabel, Service: a.ServiceLabel, Instance: a.InstanceLabel, Status: string(a.Status),
			Adoptable: a.Adoptable, LastSeen: views.Ago(a.LastSeenAt), LastSeenTitle: views.Timestamp(a.LastSeenAt)})
	}
	return page.OK(c, adminview.ReconcilePage(h.Kit.Layout(c, "Cluster sync", "admin"), h.nav(c, "reconcile"), m))
}
