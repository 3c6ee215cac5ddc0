package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

// dryRunSize answers "Test on cluster" (htmx) with what the chosen cluster says about a
// sample VM of the size as typed; nothing is saved.
func (h *Handler) dryRunSize(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	_, in, errs := parseSizeForm(form)
	clusterID, _ := uuid.Parse(form.Get("dryrun_cluster")) // none or junk: the use case asks for one
	if len(errs) > 0 {
		return dryRunFragment(c, http.StatusUnprocessableEntity, adminview.SizeDryRunResult{Problems: problemList(errs)})
	}
	r, err := h.Catalog.DryRunSize(c.Request().Context(), actor(c), in, clusterID)
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &ve):
		return dryRunFragment(c, http.StatusUnprocessableEntity, adminview.SizeDryRunResult{Problems: problemList(ve.Fields)})
	case err != nil:
		return loadError(err)
	}
	status := http.StatusOK
	if !r.Valid {
		status = http.StatusUnprocessableEntity
	}
	return dryRunFragment(c, status, dryRunResult(r))
}

func dryRunFragment(c echo.Context, status int, r adminview.SizeDryRunResult) error {
	return page.Render(c, status, adminview.SizeDryRunBlock(r))
}

func dryRunResult(r catalog.SizeDryRun) adminview.SizeDryRunResult {
	out := adminview.SizeDryRunResult{Valid: r.Valid, Simulated: r.Simulated, SimulatedNote: catalog.SimulatedCheck,
		Cluster: r.Cluster, KubeVirtVersion: r.KubeVirtVersion, Namespace: r.Namespace, VMName: r.VMName,
		Template: r.Template, Problem: r.Problem, Hint: r.Hint}
	p := r.Preview
	out.Preview = adminview.SizePreview{CPUCores: cores(p.CPUCores), CPU: requestLimit(p.CPURequest, p.CPULimit),
		Memory: requestLimit(p.MemRequest, p.MemLimit)}
	out.Preview.GPUs = strings.Join(p.GPUs, ", ")
	for _, o := range p.Overrides {
		out.Preview.Overrides = append(out.Preview.Overrides, adminview.Override{Path: o.Path, Value: o.Value})
	}
	return out
}

// requestLimit says a resource in words: "request 1, limit 2", or "4Gi (request = limit)".
func requestLimit(request, limit string) string {
	if request == limit {
		return limit + " (request = limit)"
	}
	return "request " + request + ", limit " + limit
}

// sizeFieldLabels name the size form's fields in the dry-run's list of problems.
var sizeFieldLabels = map[string]string{
	"name": "Name", "display_name": "Display name", "description": "Description", "cpu_cores": "CPU cores",
	"memory_gib": "Memory", "cpu_request": "CPU request", "mem_request_gib": "Memory request",
	"dedicated_cpu": "Dedicated CPU", "hugepages_size": "Hugepages", "gpu_devices": "GPU devices",
	"disk_default_gb": "Default disk", "disk_min_gb": "Minimum disk", "disk_max_gb": "Maximum disk",
	"sort_order": "Sort order", "spec_overrides": "Spec overrides", "dryrun_cluster": "Test on cluster",
}

// problemList turns field errors into "Label: message" lines, sorted so the answer is
// stable.
func problemList(errs map[string]string) []string {
	var out []string
	for field, msg := range errs {
		label := sizeFieldLabels[field]
		if label == "" {
			label = field
		}
		out = append(out, label+": "+msg)
	}
	sort.Strings(out)
	return out
}

// dryRunClusters are the options of the "Test on cluster" select.
func (h *Handler) dryRunClusters(c echo.Context, selected string) ([]views.Option, error) {
	rows, err := h.Catalog.DryRunClusters(c.Request().Context())
	if err != nil {
		return nil, err
	}
	var out []views.Option
	for _, k := range rows {
		out = append(out, views.Option{Value: k.ID.String(), Label: clusterChoice(k), Selected: k.ID.String() == selected})
	}
	return out, nil
}

// clusterChoice says which cluster and how it will judge: simulated clusters only
// check KubeVirt's types, real ones answer with their version's schema and admission.
func clusterChoice(k *ent.Cluster) string {
	kind := "simulated"
	if k.Provider != cluster.ProviderSim {
		kind = "KubeVirt"
		if k.KubevirtVersion != "" {
			kind += " " + k.KubevirtVersion
		}
	}
	return k.Name + " (" + string(k.Environment) + ", " + kind + ")"
}
