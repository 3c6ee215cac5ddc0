package admin

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/views/adminview"
)

// gpuRows is how many GPU rows the form offers (the size may have at most this many).
const gpuRows = catalog.MaxGPUDevices

// parseSizeForm turns the submitted form into the use case's input. Values that are not
// numbers become field errors here; the input then carries zero for them, and the use
// case's own rules fill in the rest of the form's errors.
func parseSizeForm(form url.Values) (adminview.SizeForm, catalog.SizeInput, adminview.Errors) {
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	f := adminview.SizeForm{Name: get("name"), DisplayName: get("display_name"), Description: get("description"),
		CPUCores: get("cpu_cores"), MemoryGiB: get("memory_gib"), CPUOvercommit: form.Has("cpu_overcommit"),
		CPURequest: get("cpu_request"), MemOvercommit: form.Has("mem_overcommit"), MemRequestGiB: get("mem_request_gib"),
		DedicatedCPU: form.Has("dedicated_cpu"), Hugepages: get("hugepages_size"), DiskDefault: get("disk_default_gb"),
		DiskMin: get("disk_min_gb"), DiskMax: get("disk_max_gb"), Enabled: form.Has("enabled"), SortOrder: get("sort_order"),
		SpecOverrides: get("spec_overrides"), DryRunCluster: get("dryrun_cluster")}
	in := catalog.SizeInput{Name: f.Name, DisplayName: f.DisplayName, Description: f.Description, CPUOvercommit: f.CPUOvercommit,
		MemOvercommit: f.MemOvercommit, DedicatedCPU: f.DedicatedCPU, HugepagesSize: f.Hugepages, Enabled: f.Enabled}
	errs := adminview.Errors{}

	whole := func(field, value, msg string, dst *int, empty int) {
		if value == "" {
			*dst = empty
			return
		}
		n, err := strconv.Atoi(value)
		if err != nil {
			errs[field] = msg
			return
		}
		*dst = n
	}
	whole("cpu_cores", f.CPUCores, "Use a whole number of cores from 1 to 256.", &in.CPUCores, 0)
	whole("disk_default_gb", f.DiskDefault, "Enter a whole number of GB.", &in.DiskDefaultGB, 0)
	whole("disk_min_gb", f.DiskMin, "Enter a whole number of GB.", &in.DiskMinGB, 0)
	whole("disk_max_gb", f.DiskMax, "Enter a whole number of GB.", &in.DiskMaxGB, 0)
	whole("sort_order", f.SortOrder, "Enter a whole number.", &in.SortOrder, 0)

	var err error
	if in.MemoryMiB, err = catalog.ParseGiB(f.MemoryGiB); err != nil {
		errs["memory_gib"] = quantityProblem(err, "Enter the memory in GiB, e.g. 4 or 0.5.")
	}
	if f.CPUOvercommit {
		if in.CPURequestMillis, err = catalog.ParseCores(f.CPURequest); err != nil {
			errs["cpu_request"] = quantityProblem(err, "Enter the CPU request in cores, e.g. 0.5 (more than 0, less than the cores).")
		}
	}
	if f.MemOvercommit {
		if in.MemRequestMiB, err = catalog.ParseGiB(f.MemRequestGiB); err != nil {
			errs["mem_request_gib"] = quantityProblem(err, "Enter the memory request in GiB, e.g. 2 (more than 0, less than the memory).")
		}
	}

	if in.SpecOverrides, err = catalog.ParseSpecOverrides(f.SpecOverrides); err != nil {
		errs["spec_overrides"] = err.Error()
	}

	names, devices := form["gpu_name"], form["gpu_device"]
	for i := 0; i < max(len(names), len(devices)); i++ {
		row := adminview.GPURow{Name: strings.TrimSpace(at(names, i)), DeviceName: strings.TrimSpace(at(devices, i))}
		f.GPUs = append(f.GPUs, row)
		if row.Name != "" || row.DeviceName != "" {
			in.GPUDevices = append(in.GPUDevices, schema.GPUDevice{Name: row.Name, DeviceName: row.DeviceName})
		}
	}
	f.GPUs = padGPUs(f.GPUs)
	return f, in, errs
}

func quantityProblem(err error, fallback string) string {
	if errors.Is(err, catalog.ErrTooPrecise) {
		return "Use a value that comes to whole MiB or millicores, e.g. 0.5 or 1.25."
	}
	return fallback
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return ""
}

func padGPUs(rows []adminview.GPURow) []adminview.GPURow {
	for len(rows) < gpuRows {
		rows = append(rows, adminview.GPURow{})
	}
	return rows
}

// sizeForm shows a stored (or default) size in the form's units.
func sizeForm(id string, in catalog.SizeInput) adminview.SizeForm {
	f := adminview.SizeForm{ID: id, Name: in.Name, DisplayName: in.DisplayName, Description: in.Description,
		CPUCores: strconv.Itoa(in.CPUCores), MemoryGiB: catalog.FormatGiB(in.MemoryMiB), CPUOvercommit: in.CPUOvercommit,
		MemOvercommit: in.MemOvercommit, DedicatedCPU: in.DedicatedCPU, Hugepages: in.HugepagesSize,
		DiskDefault: strconv.Itoa(in.DiskDefaultGB), DiskMin: strconv.Itoa(in.DiskMinGB), DiskMax: strconv.Itoa(in.DiskMaxGB),
		Enabled: in.Enabled, SortOrder: strconv.Itoa(in.SortOrder), SpecOverrides: catalog.FormatSpecOverrides(in.SpecOverrides)}
	if in.CPUOvercommit {
		f.CPURequest = catalog.FormatCores(in.CPURequestMillis)
	}
	if in.MemOvercommit {
		f.MemRequestGiB = catalog.FormatGiB(in.MemRequestMiB)
	}
	for _, g := range in.GPUDevices {
		f.GPUs = append(f.GPUs, adminview.GPURow{Name: g.Name, DeviceName: g.DeviceName})
	}
	f.GPUs = padGPUs(f.GPUs)
	return f
}

// sizeRow is one line of the list.
func sizeRow(sz *ent.InstanceSize) adminview.SizeRow {
	cr, cl, mr, ml := catalog.Resources(sz)
	r := adminview.SizeRow{ID: sz.ID.String(), Name: sz.Name, DisplayName: sz.DisplayName,
		CPU: cores(sz.CPUCores), Memory: catalog.FormatGiB(sz.MemoryMib) + " GiB",
		CPURequest: cr, CPULimit: cl, MemRequest: mr, MemLimit: ml, Overcommit: sz.CPUOvercommit || sz.MemOvercommit,
		Hugepages: sz.HugepagesSize, DedicatedCPU: sz.DedicatedCPU, Enabled: sz.Enabled,
		Disk: strconv.Itoa(sz.DiskMinGB) + "–" + strconv.Itoa(sz.DiskMaxGB) + " GB (default " + strconv.Itoa(sz.DiskDefaultGB) + ")"}
	var gpus []string
	for _, g := range sz.GpuDevices {
		gpus = append(gpus, g.DeviceName)
	}
	r.GPU = strings.Join(gpus, ", ")
	for _, path := range catalog.SortedOverridePaths(sz.SpecOverrides) {
		r.Overrides = append(r.Overrides, adminview.Override{Path: path, Value: catalog.OverrideValue(sz.SpecOverrides[path])})
	}
	return r
}

func cores(n int) string {
	if n == 1 {
		return "1 core"
	}
	return strconv.Itoa(n) + " cores"
}
