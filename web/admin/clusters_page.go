package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

// historyShown is how many health checks the cluster page lists.
const historyShown = 50

func (h *Handler) clusterPage(c echo.Context) error {
	return h.renderClusterPage(c, http.StatusOK, nil)
}

// renderClusterPage shows the cluster; adjust fills in the state of a refused rotation
// or delete.
func (h *Handler) renderClusterPage(c echo.Context, status int, adjust func(*adminview.ClusterPage)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := h.Catalog.ClusterPage(c.Request().Context(), id, historyShown)
	if err != nil {
		return loadError(err)
	}
	m := clusterPageModel(d)
	if adjust != nil {
		adjust(&m)
	}
	l := h.Kit.Layout(c, "Cluster "+d.Cluster.Name, "admin")
	return page.Render(c, status, adminview.ClusterDetailPage(l, h.nav(c, "clusters"), m))
}

func clusterPageModel(d catalog.ClusterDetail) adminview.ClusterPage {
	k := d.Cluster
	m := adminview.ClusterPage{
		ID:            k.ID.String(),
		Name:          k.Name,
		Environment:   string(k.Environment),
		Provider:      string(k.Provider),
		Status:        string(k.Status),
		StatusMessage: k.StatusMessage,
		Enabled:       k.Enabled,
		Weight:        k.SchedulingWeight,
		APIServerURL:  k.APIServerURL,
		Caps: adminview.Capabilities{
			KubernetesVersion:   k.KubernetesVersion,
			KubeVirtVersion:     k.KubevirtVersion,
			StorageClasses:      k.StorageClasses,
			DefaultStorageClass: k.DefaultStorageClass,
			GPUDevices:          k.GpuDevices,
			Hugepages:           k.Hugepages,
			SRIOVNetworks:       k.SriovNetworks,
			DedicatedCPU:        k.DedicatedCPU,
		},
		LastCheck:       "never",
		Registered:      views.Ago(k.CreatedAt),
		RegisteredTitle: views.Timestamp(k.CreatedAt),
		Credentials: adminview.Credentials{
			Stored:     k.KubeconfigSealed != "",
			AuthMethod: k.AuthMethod,
			Context:    k.KubeconfigContext,
			Rotated:    "never",
		},
		LiveVMs:      d.Blockers.LiveVMs,
		OpenTickets:  d.Blockers.OpenTickets,
		HistoryLimit: historyShown,
	}
	if k.LastCheckedAt != nil {
		m.LastCheck, m.LastCheckTitle = views.Ago(*k.LastCheckedAt), views.Timestamp(*k.LastCheckedAt)
	}
	if k.CredentialsRotatedAt != nil {
		m.Credentials.Rotated, m.Credentials.RotatedTitle = views.Ago(*k.CredentialsRotatedAt), views.Timestamp(*k.CredentialsRotatedAt)
	}
	if d.Blockers.Any() {
		m.Delete.Blocked = d.Blockers.Reason()
	}
	for _, hc := range d.History {
		m.History = append(m.History, healthRow(hc))
	}
	return m
}

func healthRow(hc *ent.ClusterHealthCheck) adminview.HealthRow {
	return adminview.HealthRow{
		At:                views.Ago(hc.CheckedAt),
		AtTitle:           views.Timestamp(hc.CheckedAt),
		Status:            string(hc.Status),
		Message:           hc.Message,
		KubernetesVersion: hc.KubernetesVersion,
		KubeVirtVersion:   hc.KubevirtVersion,
		Duration:          (time.Duration(hc.DurationMs) * time.Millisecond).String(),
	}
}

// rotateCredentials tests the new kubeconfig and stores it; a refusal shows the
// cluster page again with the rotation form open (and empty).
func (h *Handler) rotateCredentials(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	kc, problem := kubeconfigFrom(c)
	sent := kubeconfigSent(kc, problem)
	if problem == "" {
		k, err := h.Catalog.RotateClusterCredentials(c.Request().Context(), actor(c), id, kc)
		if err == nil {
			page.Flash(c, "success", "Credentials of "+k.Name+" replaced; the cluster answered to the new ones.")
			return page.Redirect(c, "/admin/clusters/"+id.String())
		}
		errs, message, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		if message != "" {
			errs = adminview.Errors{"kubeconfig": message}
		}
		return h.rotateRefused(c, errs, sent)
	}
	return h.rotateRefused(c, adminview.Errors{"kubeconfig": problem}, sent)
}

func (h *Handler) rotateRefused(c echo.Context, errs adminview.Errors, sent bool) error {
	return h.renderClusterPage(c, http.StatusUnprocessableEntity, func(m *adminview.ClusterPage) {
		m.Rotate = adminview.RotateForm{Open: true, KubeconfigDropped: sent, Errors: errs}
	})
}

// deleteCluster retires the cluster after the typed-name confirmation; refusals (still
// in use, name mistyped) show the page again with the danger zone open.
func (h *Handler) deleteCluster(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	typed := c.FormValue("confirm_name")
	k, err := h.Catalog.DeleteCluster(c.Request().Context(), actor(c), id, typed)
	if err == nil {
		page.Flash(c, "success", "Cluster "+k.Name+" deleted. Its VMs' history and the audit log keep its name.")
		return page.Redirect(c, "/admin/clusters")
	}
	var de *domain.Error
	if !errors.As(err, &de) {
		return err
	}
	if e := httpError(de); e != nil {
		return e
	}
	return h.renderClusterPage(c, http.StatusUnprocessableEntity, func(m *adminview.ClusterPage) {
		m.Delete.Open, m.Delete.ConfirmName = true, typed
		if de.Code != domain.CodeDeleteRestricted || m.Delete.Blocked == "" {
			m.Delete.Error = de.Message
		}
	})
}
