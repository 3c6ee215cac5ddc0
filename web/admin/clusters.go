package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) clusters(c echo.Context) error {
	rows, err := h.Catalog.ListClusters(c.Request().Context())
	if err != nil {
		return err
	}
	var m adminview.ClusterList
	for _, k := range rows {
		r := adminview.ClusterRow{
			ID:                  k.ID.String(),
			Name:                k.Name,
			Environment:         string(k.Environment),
			Provider:            string(k.Provider),
			Status:              string(k.Status),
			StatusMessage:       k.StatusMessage,
			Weight:              k.SchedulingWeight,
			StorageClasses:      k.StorageClasses,
			DefaultStorageClass: k.DefaultStorageClass,
			Enabled:             k.Enabled,
			LastCheck:           "never",
		}
		r.Capabilities = append(r.Capabilities, k.GpuDevices...)
		for _, hp := range k.Hugepages {
			r.Capabilities = append(r.Capabilities, "hugepages "+hp)
		}
		if k.DedicatedCPU {
			r.Capabilities = append(r.Capabilities, "dedicated CPU")
		}
		for _, n := range k.SriovNetworks {
			r.Capabilities = append(r.Capabilities, "SR-IOV "+n)
		}
		if k.LastCheckedAt != nil {
			r.LastCheck, r.LastCheckTitle = views.Ago(*k.LastCheckedAt), views.Timestamp(*k.LastCheckedAt)
		}
		m.Rows = append(m.Rows, r)
	}
	return page.OK(c, adminview.ClustersPage(h.Kit.Layout(c, "Clusters", "admin"), h.nav(c, "clusters"), m))
}

func (h *Handler) newCluster(c echo.Context) error {
	return h.clusterForm(c, http.StatusOK, adminview.ClusterForm{Provider: "kubevirt", Weight: "100"})
}

func (h *Handler) clusterForm(c echo.Context, status int, f adminview.ClusterForm) error {
	title := "Register cluster"
	if f.ID != "" {
		title = "Edit cluster " + f.Name
	}
	return page.Render(c, status, adminview.ClusterFormPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "clusters"), f))
}

// parseClusterForm reads the form; a weight that is not a number is a field error
// before the use case sees it. The kubeconfig is read separately and never copied
// into the view model.
func parseClusterForm(c echo.Context) (adminview.ClusterForm, catalog.ClusterInput, adminview.Errors) {
	form, _ := c.FormParams()
	f := adminview.ClusterForm{
		Name:                strings.TrimSpace(form.Get("name")),
		Environment:         form.Get("environment"),
		Provider:            form.Get("provider"),
		Weight:              strings.TrimSpace(form.Get("scheduling_weight")),
		StorageClasses:      form.Get("storage_classes"),
		DefaultStorageClass: strings.TrimSpace(form.Get("default_storage_class")),
		GPUDevices:          form.Get("gpu_devices"),
		Hugepages:           form["hugepages"],
		DedicatedCPU:        form.Get("dedicated_cpu") != "",
	}
	in := catalog.ClusterInput{
		Name:                f.Name,
		Environment:         f.Environment,
		Provider:            f.Provider,
		StorageClasses:      catalog.SplitList(f.StorageClasses),
		DefaultStorageClass: f.DefaultStorageClass,
		GPUDevices:          catalog.SplitList(f.GPUDevices),
		Hugepages:           f.Hugepages,
		DedicatedCPU:        f.DedicatedCPU,
	}
	errs := adminview.Errors{}
	if f.Weight == "" {
		in.SchedulingWeight = 100
	} else if w, err := strconv.Atoi(f.Weight); err == nil {
		in.SchedulingWeight = w
	} else {
		errs["scheduling_weight"] = "Use a whole number from 0 to 1000."
	}
	return f, in, errs
}

// registerCluster probes a real cluster before saving it, so it can take up to the
// probe timeout; a refusal re-renders the form without the kubeconfig.
func (h *Handler) registerCluster(c echo.Context) error {
	f, in, errs := parseClusterForm(c)
	if !in.Simulated() {
		// The hidden simulated-hardware fields still arrive; a real cluster's are detected.
		in.StorageClasses, in.DefaultStorageClass, in.GPUDevices, in.Hugepages, in.DedicatedCPU = nil, "", nil, nil, false
		kc, problem := kubeconfigFrom(c)
		in.Kubeconfig = kc
		f.KubeconfigDropped = kubeconfigSent(kc, problem)
		if problem != "" {
			errs["kubeconfig"] = problem
		}
	}
	if len(errs) == 0 {
		k, err := h.Catalog.RegisterCluster(c.Request().Context(), actor(c), in)
		if err == nil {
			page.Flash(c, "success", registeredMessage(k))
			return page.Redirect(c, "/admin/clusters/"+k.ID.String())
		}
		var ok bool
		var fatal error
		if errs, f.Message, ok, fatal = formProblem(err); !ok {
			return fatal
		}
	} else {
		in.Normalize()
		merge(errs, in.Validate())
	}
	f.Errors = errs
	return h.clusterForm(c, http.StatusUnprocessableEntity, f)
}

func registeredMessage(k *ent.Cluster) string {
	msg := "Cluster " + k.Name + " registered: " + adminview.ClusterStatusWord(string(k.Status))
	if k.KubevirtVersion != "" {
		msg += ", KubeVirt " + k.KubevirtVersion
	}
	return msg + "."
}

func (h *Handler) loadCluster(c echo.Context) (*ent.Cluster, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	k, err := h.Catalog.Cluster(c.Request().Context(), id)
	return k, loadError(err)
}

func (h *Handler) editCluster(c echo.Context) error {
	k, err := h.loadCluster(c)
	if err != nil {
		return err
	}
	return h.clusterForm(c, http.StatusOK, adminview.ClusterForm{
		ID:                  k.ID.String(),
		Name:                k.Name,
		Environment:         string(k.Environment),
		Provider:            string(k.Provider),
		Weight:              strconv.Itoa(k.SchedulingWeight),
		StorageClasses:      strings.Join(k.StorageClasses, ", "),
		DefaultStorageClass: k.DefaultStorageClass,
		DetectedClasses:     k.StorageClasses,
		GPUDevices:          strings.Join(k.GpuDevices, ", "),
		Hugepages:           k.Hugepages,
		DedicatedCPU:        k.DedicatedCPU,
	})
}

func (h *Handler) updateCluster(c echo.Context) error {
	k, err := h.loadCluster(c)
	if err != nil {
		return err
	}
	f, in, errs := parseClusterForm(c)
	f.ID, f.Name, f.Provider, f.DetectedClasses = k.ID.String(), k.Name, string(k.Provider), k.StorageClasses
	if len(errs) == 0 {
		_, err := h.Catalog.UpdateCluster(c.Request().Context(), actor(c), k.ID, in)
		if err == nil {
			page.Flash(c, "success", "Cluster "+k.Name+" saved.")
			return page.Redirect(c, "/admin/clusters/"+k.ID.String())
		}
		var ok bool
		var fatal error
		if errs, f.Message, ok, fatal = formProblem(err); !ok {
			return fatal
		}
	} else if k.Provider == cluster.ProviderSim {
		in.Name, in.Provider = k.Name, string(k.Provider)
		in.Normalize()
		merge(errs, in.Validate())
	}
	f.Errors = errs
	return h.clusterForm(c, http.StatusUnprocessableEntity, f)
}

func (h *Handler) toggleCluster(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		k, err := h.Catalog.SetClusterEnabled(c.Request().Context(), actor(c), id, enabled)
		msg := ""
		if err == nil {
			msg = "Cluster " + k.Name + " " + enabledWord(enabled) + "."
		}
		return actionDone(c, err, msg, returnTo(c, "/admin/clusters"))
	}
}

// merge adds the use case's own checks to parse errors, so one submit shows every problem.
func merge(errs adminview.Errors, more map[string]string) {
	for k, v := range more {
		if _, ok := errs[k]; !ok {
			errs[k] = v
		}
	}
}
