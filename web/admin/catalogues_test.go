package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/apptest"
)

func TestCarolManagesClusters(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin/clusters")
	if status != http.StatusOK || !strings.Contains(body, `data-testid="onboarding-note"`) {
		t.Fatalf("list: %d", status)
	}
	if row := rowOf(body, "sim-test-a"); !strings.Contains(row, `data-status="HEALTHY"`) || !strings.Contains(row, "(default)") || !strings.Contains(row, "hugepages 2Mi") {
		t.Errorf("sim-test-a row %q", row)
	}

	form := url.Values{"name": {"east-1"}, "environment": {"prod"}, "provider": {"sim"}, "scheduling_weight": {"heavy"},
		"storage_classes": {"ceph, local"}, "default_storage_class": {"nfs"}, "gpu_devices": {"nvidia.com/GA102GL_A10"}}
	status, body, _ = carol.post(t, "/admin/clusters", form)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid register: %d", status)
	}
	if !strings.Contains(fieldError(body, "scheduling_weight"), "whole number") || !strings.Contains(fieldError(body, "default_storage_class"), "one of the storage classes") {
		t.Errorf("errors: %s", errorsIn(body))
	}
	if inputValue(body, "storage_classes") != "ceph, local" || inputValue(body, "scheduling_weight") != "heavy" || inputValue(body, "name") != "east-1" {
		t.Error("input not kept")
	}
	form.Set("scheduling_weight", "80")
	form.Set("default_storage_class", "ceph")
	form.Add("hugepages", "1Gi")
	form.Set("dedicated_cpu", "on")
	loc := carol.mustRedirect(t, "/admin/clusters", form)
	k := env.App.Store.Ent.Cluster.Query().Where(cluster.Name("east-1")).OnlyX(ctx)
	if loc != "/admin/clusters/"+k.ID.String() {
		t.Errorf("register redirects to %q, want the cluster's page", loc)
	}
	if k.Status != cluster.StatusHEALTHY || k.SchedulingWeight != 80 || len(k.StorageClasses) != 2 || k.Hugepages[0] != "1Gi" || !k.DedicatedCPU {
		t.Fatalf("registered %+v", k)
	}
	status, body, _ = carol.post(t, "/admin/clusters", form)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "name"), "taken") {
		t.Errorf("duplicate: %d", status)
	}

	status, body = carol.get(t, "/admin/clusters/"+k.ID.String()+"/edit")
	if status != http.StatusOK || inputValue(body, "storage_classes") != "ceph, local" || !strings.Contains(body, `value="1Gi" checked`) {
		t.Fatalf("edit page: %d", status)
	}
	carol.mustRedirect(t, "/admin/clusters/"+k.ID.String(), url.Values{"environment": {"test"}, "scheduling_weight": {"5"},
		"storage_classes": {"ceph"}, "default_storage_class": {""}})
	k = env.App.Store.Ent.Cluster.GetX(ctx, k.ID)
	if k.Environment != "test" || k.SchedulingWeight != 5 || k.DefaultStorageClass != "ceph" || k.DedicatedCPU || len(k.Hugepages) != 0 {
		t.Errorf("updated %+v", k)
	}
	carol.mustRedirect(t, "/admin/clusters/"+k.ID.String()+"/disable", nil)
	if env.App.Store.Ent.Cluster.GetX(ctx, k.ID).Enabled {
		t.Error("still enabled")
	}
}

func TestCarolManagesSizes(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	status, body := carol.get(t, "/admin/sizes")
	if status != http.StatusOK {
		t.Fatalf("list: %d", status)
	}
	if row := rowOf(body, "medium"); !strings.Contains(row, "CPU 1 / 2") || !strings.Contains(row, "overcommit") {
		t.Errorf("medium row %q", row)
	}
	if row := rowOf(body, "gpu-a10"); !strings.Contains(row, "⚠ GPU") {
		t.Errorf("gpu row %q", row)
	}

	form := url.Values{"name": {"burst"}, "display_name": {"Burst"}, "cpu_cores": {"4"}, "memory_gib": {"0.5"},
		"cpu_overcommit": {"on"}, "cpu_request": {"0.5"}, "dedicated_cpu": {"on"}, "hugepages_size": {""},
		"gpu_name": {"gpu1", "", "", ""}, "gpu_device": {"nvidia.com/GA102GL_A10", "", "", ""},
		"disk_default_gb": {"100"}, "disk_min_gb": {"50"}, "disk_max_gb": {"500"}, "enabled": {"on"}, "sort_order": {"5"}}
	status, body, _ = carol.post(t, "/admin/sizes", form)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "dedicated_cpu"), "Guaranteed QoS") {
		t.Fatalf("dedicated + overcommit: %d %s", status, errorsIn(body))
	}
	if inputValue(body, "cpu_request") != "0.5" || inputValue(body, "memory_gib") != "0.5" || inputValue(body, "gpu_device") != "nvidia.com/GA102GL_A10" {
		t.Error("input not kept")
	}
	// Unparsable numbers and rule violations show together.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("cpu_cores", "four")
	bad.Set("disk_min_gb", "600")
	bad.Del("dedicated_cpu")
	status, body, _ = carol.post(t, "/admin/sizes", bad)
	if status != http.StatusUnprocessableEntity || fieldError(body, "cpu_cores") == "" || !strings.Contains(fieldError(body, "disk_default_gb"), "below the minimum") {
		t.Fatalf("bad numbers: %d %s", status, errorsIn(body))
	}

	form.Del("dedicated_cpu")
	carol.mustRedirect(t, "/admin/sizes", form)
	sz := env.App.Store.Ent.InstanceSize.Query().Where(instancesize.Name("burst")).OnlyX(ctx)
	if sz.MemoryMib != 512 || sz.CPURequestMillis != 500 || !sz.RequiresGpu || sz.SortOrder != 5 {
		t.Fatalf("created %+v", sz)
	}
	status, body = carol.get(t, "/admin/sizes/"+sz.ID.String()+"/edit")
	if status != http.StatusOK || inputValue(body, "memory_gib") != "0.5" || inputValue(body, "cpu_request") != "0.5" {
		t.Fatalf("edit page: %d", status)
	}
	form.Set("memory_gib", "1.5")
	form.Del("cpu_overcommit")
	form.Set("gpu_name", "")
	form.Set("gpu_device", "")
	carol.mustRedirect(t, "/admin/sizes/"+sz.ID.String(), form)
	sz = env.App.Store.Ent.InstanceSize.GetX(ctx, sz.ID)
	if sz.MemoryMib != 1536 || sz.CPUOvercommit || sz.RequiresGpu || sz.Name != "burst" {
		t.Errorf("updated %+v", sz)
	}
	carol.mustRedirect(t, "/admin/sizes/"+sz.ID.String()+"/disable", nil)
	_, body = carol.get(t, "/admin/sizes")
	if !strings.Contains(rowOf(body, "burst"), `data-enabled="disabled"`) {
		t.Error("burst not shown disabled")
	}
}

func TestCarolManagesTemplates(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	carol := signIn(t, env, "demo-carol")
	_, body := carol.get(t, "/admin/templates")
	if row := rowOf(body, "ubuntu-24.04"); !strings.Contains(row, `data-status="active"`) {
		t.Errorf("ubuntu row %q", row)
	}
	if row := rowOf(body, "debian-12"); !strings.Contains(row, `data-status="draft"`) {
		t.Errorf("debian row %q", row)
	}

	form := url.Values{"name": {"alma-9"}, "display_name": {"AlmaLinux 9"}, "category": {"OS"}, "source_type": {"containerdisk"},
		"image": {"quay.io/containerdisks/almalinux:9"}, "cloud_init": {"#cloud-config\nusers: [unclosed\n"}}
	status, body, _ := carol.post(t, "/admin/templates", form)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "cloud_init"), "not valid YAML") {
		t.Fatalf("bad YAML: %d %s", status, errorsIn(body))
	}
	if !strings.Contains(body, "users: [unclosed\n</textarea>") || inputValue(body, "image") != "quay.io/containerdisks/almalinux:9" {
		t.Error("input not kept")
	}
	form.Set("cloud_init", "users:\n  - name: alma\n")
	loc := carol.mustRedirect(t, "/admin/templates", form)
	alma := env.App.Store.Ent.Template.Query().Where(template.Name("alma-9")).OnlyX(ctx)
	if loc != "/admin/templates/"+alma.ID.String() || alma.Status != template.StatusDraft || alma.Version != 1 {
		t.Fatalf("created %s %+v", loc, alma)
	}
	_, body = carol.get(t, loc)
	if !strings.Contains(body, "#cloud-config") || !strings.Contains(body, `data-testid="template-form"`) {
		t.Error("draft page lacks the warning or the form")
	}

	// ubuntu v1 is active: read-only; "New version" makes v2 a draft to edit and publish.
	ubuntu := env.App.Store.Ent.Template.Query().Where(template.Name("ubuntu-24.04")).OnlyX(ctx)
	_, body = carol.get(t, "/admin/templates/"+ubuntu.ID.String())
	if strings.Contains(body, `data-testid="template-form"`) || !strings.Contains(body, `data-testid="template-readonly"`) {
		t.Error("active version is editable")
	}
	status, _, _ = carol.post(t, "/admin/templates/"+ubuntu.ID.String(), url.Values{"source_type": {"containerdisk"}, "image": {"x"}})
	if status != http.StatusSeeOther || env.App.Store.Ent.Template.GetX(ctx, ubuntu.ID).Image == "x" {
		t.Fatalf("editing an active version: %d", status)
	}
	loc = carol.mustRedirect(t, "/admin/templates/"+ubuntu.ID.String()+"/new-version", nil)
	v2 := env.App.Store.Ent.Template.Query().Where(template.Name("ubuntu-24.04"), template.Version(2)).OnlyX(ctx)
	if loc != "/admin/templates/"+v2.ID.String() || v2.Status != template.StatusDraft {
		t.Fatalf("new version: %s %+v", loc, v2)
	}
	if loc = carol.mustRedirect(t, "/admin/templates/"+ubuntu.ID.String()+"/new-version", nil); loc != "/admin/templates/"+v2.ID.String() {
		t.Errorf("second new version went to %s, want the existing draft", loc)
	}
	edit := url.Values{"display_name": {"Ubuntu 24.04.1"}, "source_type": {"containerdisk"}, "image": {"quay.io/containerdisks/ubuntu:24.04.1"},
		"cloud_init": {ubuntu.CloudInit}}
	carol.mustRedirect(t, "/admin/templates/"+v2.ID.String(), edit)
	carol.mustRedirect(t, "/admin/templates/"+v2.ID.String()+"/publish", nil)
	if st := env.App.Store.Ent.Template.GetX(ctx, ubuntu.ID).Status; st != template.StatusDeprecated {
		t.Fatalf("v1 is %s after publishing v2", st)
	}
	if v := env.App.Store.Ent.Template.GetX(ctx, v2.ID); v.Status != template.StatusActive || v.Image != "quay.io/containerdisks/ubuntu:24.04.1" {
		t.Fatalf("v2 %+v", v)
	}
	// A refused transition is a flash on the page, not an error page.
	carol.mustRedirect(t, "/admin/templates/"+v2.ID.String()+"/archive", nil)
	_, body = carol.get(t, "/admin/templates/"+v2.ID.String())
	if !strings.Contains(body, "cannot be archived") {
		t.Error("no refusal flash")
	}
	carol.mustRedirect(t, "/admin/templates/"+ubuntu.ID.String()+"/archive", nil)
	_, body = carol.get(t, "/admin/templates")
	if strings.Contains(rowOf(body, "ubuntu-24.04"), `data-version="1"`) {
		t.Error("archived v1 listed by default")
	}
	_, body = carol.get(t, "/admin/templates?show=archived")
	if !strings.Contains(rowOf(body, "ubuntu-24.04"), `data-version="1"`) {
		t.Error("archived v1 not listed with show=archived")
	}
}
