package catalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// SizeInput is the instance size form with units already converted (see units.go).
// Without overcommit the request equals the limit, so the request fields are ignored.
type SizeInput struct {
	Name, DisplayName, Description string
	CPUCores                       int
	MemoryMiB                      int
	CPUOvercommit                  bool
	CPURequestMillis               int
	MemOvercommit                  bool
	MemRequestMiB                  int
	DedicatedCPU                   bool
	HugepagesSize                  string // "", "2Mi" or "1Gi"
	GPUDevices                     []schema.GPUDevice
	DiskDefaultGB                  int
	DiskMinGB                      int
	DiskMaxGB                      int
	Enabled                        bool
	SortOrder                      int
	// SpecOverrides are dotted JSON paths under spec.template.spec. set on every VM of
	// the size (see sizes_overrides.go); nil for none.
	SpecOverrides map[string]any
}

// Limits of the size form.
const (
	MaxCPUCores   = 256
	MaxMemoryMiB  = 4096 * 1024
	MaxGPUDevices = 4
	MaxDiskGB     = 65536
	sizeNameMax   = 63
	displayMax    = 100
)

// NewSizeInput has the spec's defaults for a new size (disk 100 / 50 / 500 GB).
func NewSizeInput() SizeInput {
	return SizeInput{CPUCores: 2, MemoryMiB: 4096, DiskDefaultGB: 100, DiskMinGB: 50, DiskMaxGB: 500, Enabled: true}
}

// ErrDedicatedCPUOvercommit is the blocking rule of spec/domain §6.4: dedicated CPU
// placement needs Guaranteed QoS, i.e. request == limit for CPU and memory.
func ErrDedicatedCPUOvercommit() *domain.Error {
	return domain.Errf(domain.CodeDedicatedOvercommit, "dedicated_cpu",
		"Dedicated CPU needs request = limit (Guaranteed QoS): turn off CPU and memory overcommit, or dedicated CPU.")
}

// Validate checks every rule and returns all problems at once; a dedicated-CPU conflict
// also carries its code (find it with errors.As(err, &*domain.Error)).
func (in SizeInput) Validate() error {
	fe := domain.FieldErrors{}
	checkDNSName(fe, "name", in.Name, sizeNameMax)
	checkLength(fe, "display_name", in.DisplayName, displayMax)
	checkLength(fe, "description", in.Description, descriptionMax)
	if in.CPUCores < 1 || in.CPUCores > MaxCPUCores {
		fe.Add("cpu_cores", fmt.Sprintf("Use a whole number of cores from 1 to %d.", MaxCPUCores))
	}
	if in.MemoryMiB < 1 || in.MemoryMiB > MaxMemoryMiB {
		fe.Add("memory_gib", fmt.Sprintf("Use more than 0 and at most %d GiB.", MaxMemoryMiB/1024))
	}
	if in.CPUOvercommit && (in.CPURequestMillis <= 0 || in.CPURequestMillis >= in.CPUCores*1000) {
		fe.Add("cpu_request", fmt.Sprintf("The CPU request must be more than 0 and less than the limit (%d cores).", in.CPUCores))
	}
	if in.MemOvercommit && (in.MemRequestMiB <= 0 || in.MemRequestMiB >= in.MemoryMiB) {
		fe.Add("mem_request_gib", fmt.Sprintf("The memory request must be more than 0 and less than the limit (%s GiB).", FormatGiB(in.MemoryMiB)))
	}
	switch in.HugepagesSize {
	case "":
	case "2Mi":
		if in.MemoryMiB%2 != 0 {
			fe.Add("memory_gib", "With 2Mi hugepages the memory must be a multiple of 2 MiB.")
		}
	case "1Gi":
		if in.MemoryMiB%1024 != 0 {
			fe.Add("memory_gib", "With 1Gi hugepages the memory must be a whole number of GiB.")
		}
	default:
		fe.Add("hugepages_size", "Choose None, 2Mi or 1Gi.")
	}
	// Kubernetes requires hugepage requests to equal their limits.
	if in.HugepagesSize != "" && in.MemOvercommit {
		fe.Add("mem_request_gib", "Memory backed by hugepages cannot be overcommitted.")
	}
	checkGPUs(fe, in.GPUDevices)
	checkSpecOverrides(fe, in)
	switch {
	case in.DiskMinGB < 1:
		fe.Add("disk_min_gb", "The minimum disk must be at least 1 GB.")
	case in.DiskMaxGB > MaxDiskGB:
		fe.Add("disk_max_gb", fmt.Sprintf("At most %d GB.", MaxDiskGB))
	case in.DiskMinGB > in.DiskDefaultGB:
		fe.Add("disk_default_gb", "The default disk must not be below the minimum.")
	case in.DiskDefaultGB > in.DiskMaxGB:
		fe.Add("disk_default_gb", "The default disk must not be above the maximum.")
	}
	if in.SortOrder < -10000 || in.SortOrder > 10000 {
		fe.Add("sort_order", "Use a number from -10000 to 10000.")
	}
	if in.DedicatedCPU && (in.CPUOvercommit || in.MemOvercommit) {
		e := ErrDedicatedCPUOvercommit()
		fe.Add(e.Field, e.Message)
		return invalid(fe, e)
	}
	return invalid(fe)
}

func checkGPUs(fe domain.FieldErrors, gpus []schema.GPUDevice) {
	if len(gpus) > MaxGPUDevices {
		fe.Add("gpu_devices", fmt.Sprintf("At most %d GPU devices.", MaxGPUDevices))
		return
	}
	seen := map[string]bool{}
	for i, g := range gpus {
		row := i + 1
		switch {
		case g.Name == "" || g.DeviceName == "":
			fe.Add("gpu_devices", fmt.Sprintf("Row %d: enter both the name and the device name.", row))
		case len(g.Name) > 63 || !dnsLabel.MatchString(g.Name):
			fe.Add("gpu_devices", fmt.Sprintf("Row %d: the name is a DNS label such as gpu1.", row))
		case len(g.DeviceName) > 253 || !resourceName.MatchString(g.DeviceName):
			fe.Add("gpu_devices", fmt.Sprintf("Row %d: the device name is a resource name such as nvidia.com/GA102GL_A10.", row))
		case seen[g.Name]:
			fe.Add("gpu_devices", fmt.Sprintf("Row %d: the name %q is used twice.", row, g.Name))
		}
		seen[g.Name] = true
	}
}

// normalized clears request fields that do not apply, so the row never claims an
// overcommit request that nobody asked for.
func (in SizeInput) normalized() SizeInput {
	if !in.CPUOvercommit {
		in.CPURequestMillis = 0
	}
	if !in.MemOvercommit {
		in.MemRequestMiB = 0
	}
	if in.GPUDevices == nil {
		in.GPUDevices = []schema.GPUDevice{}
	}
	if in.SpecOverrides == nil {
		in.SpecOverrides = map[string]any{}
	}
	return in
}

// CreateSize adds an instance size.
func (s *Service) CreateSize(ctx context.Context, a Actor, in SizeInput) (*ent.InstanceSize, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	in = in.normalized()
	var sz *ent.InstanceSize
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := tx.Ent.InstanceSize.Query().Where(instancesize.Name(in.Name)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return nameTaken(in.Name)
		}
		sz, err = tx.Ent.InstanceSize.Create().SetName(in.Name).SetDisplayName(in.DisplayName).SetDescription(in.Description).
			SetCPUCores(in.CPUCores).SetMemoryMib(in.MemoryMiB).SetCPUOvercommit(in.CPUOvercommit).
			SetCPURequestMillis(in.CPURequestMillis).SetMemOvercommit(in.MemOvercommit).SetMemRequestMib(in.MemRequestMiB).
			SetDedicatedCPU(in.DedicatedCPU).SetHugepagesSize(in.HugepagesSize).SetGpuDevices(in.GPUDevices).
			SetRequiresGpu(len(in.GPUDevices) > 0).SetDiskDefaultGB(in.DiskDefaultGB).SetDiskMinGB(in.DiskMinGB).
			SetDiskMaxGB(in.DiskMaxGB).SetEnabled(in.Enabled).SetSortOrder(in.SortOrder).SetSpecOverrides(in.SpecOverrides).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("instance_size.create", "instance_size", sz.ID.String(), sz.Name, "",
			map[string]any{"new": sizeFields(sz)}))
	})
	if uniqueViolation(err, "instance_sizes_name_key") {
		err = nameTaken(in.Name)
	}
	return sz, err
}

// UpdateSize changes a size. The name is fixed (tickets and APIs refer to it); edits
// affect only future approvals, because approved tickets keep a snapshot.
func (s *Service) UpdateSize(ctx context.Context, a Actor, id uuid.UUID, in SizeInput) (*ent.InstanceSize, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var sz *ent.InstanceSize
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.InstanceSize.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		in.Name = old.Name
		if err := in.Validate(); err != nil {
			return err
		}
		in = in.normalized()
		sz, err = old.Update().SetDisplayName(in.DisplayName).SetDescription(in.Description).
			SetCPUCores(in.CPUCores).SetMemoryMib(in.MemoryMiB).SetCPUOvercommit(in.CPUOvercommit).
			SetCPURequestMillis(in.CPURequestMillis).SetMemOvercommit(in.MemOvercommit).SetMemRequestMib(in.MemRequestMiB).
			SetDedicatedCPU(in.DedicatedCPU).SetHugepagesSize(in.HugepagesSize).SetGpuDevices(in.GPUDevices).
			SetRequiresGpu(len(in.GPUDevices) > 0).SetDiskDefaultGB(in.DiskDefaultGB).SetDiskMinGB(in.DiskMinGB).
			SetDiskMaxGB(in.DiskMaxGB).SetEnabled(in.Enabled).SetSortOrder(in.SortOrder).SetSpecOverrides(in.SpecOverrides).Save(ctx)
		if err != nil {
			return err
		}
		before, after := changes(sizeFields(old), sizeFields(sz))
		if len(after) == 0 {
			return nil
		}
		return audit.Write(ctx, tx.Ent, a.entry("instance_size.update", "instance_size", id.String(), sz.Name, "",
			map[string]any{"old": before, "new": after}))
	})
	return sz, err
}

// SetSizeEnabled offers a size to new requests, or stops offering it.
func (s *Service) SetSizeEnabled(ctx context.Context, a Actor, id uuid.UUID, enabled bool) (*ent.InstanceSize, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var sz *ent.InstanceSize
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.InstanceSize.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if old.Enabled == enabled {
			sz = old
			return nil
		}
		if sz, err = old.Update().SetEnabled(enabled).Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry(toggleAction("instance_size", enabled), "instance_size", id.String(), sz.Name, "",
			map[string]any{"old": map[string]any{"enabled": old.Enabled}, "new": map[string]any{"enabled": enabled}}))
	})
	return sz, err
}

// ListSizes returns every size in the order users see them.
func (s *Service) ListSizes(ctx context.Context) ([]*ent.InstanceSize, error) {
	return s.Store.Ent.InstanceSize.Query().
		Order(ent.Asc(instancesize.FieldSortOrder), ent.Asc(instancesize.FieldName)).All(ctx)
}

// Size loads one size.
func (s *Service) Size(ctx context.Context, id uuid.UUID) (*ent.InstanceSize, error) {
	sz, err := s.Store.Ent.InstanceSize.Get(ctx, id)
	return sz, notFound(err)
}

// SizeInputFrom fills the edit form from a stored size.
func SizeInputFrom(sz *ent.InstanceSize) SizeInput {
	return SizeInput{Name: sz.Name, DisplayName: sz.DisplayName, Description: sz.Description, CPUCores: sz.CPUCores,
		MemoryMiB: sz.MemoryMib, CPUOvercommit: sz.CPUOvercommit, CPURequestMillis: sz.CPURequestMillis,
		MemOvercommit: sz.MemOvercommit, MemRequestMiB: sz.MemRequestMib, DedicatedCPU: sz.DedicatedCPU,
		HugepagesSize: sz.HugepagesSize, GPUDevices: sz.GpuDevices, DiskDefaultGB: sz.DiskDefaultGB,
		DiskMinGB: sz.DiskMinGB, DiskMaxGB: sz.DiskMaxGB, Enabled: sz.Enabled, SortOrder: sz.SortOrder,
		SpecOverrides: sz.SpecOverrides}
}

func sizeFields(sz *ent.InstanceSize) map[string]any {
	cpuReq, cpuLim, memReq, memLim := Resources(sz)
	overrides := sz.SpecOverrides
	if overrides == nil {
		overrides = map[string]any{}
	}
	gpus := []any{}
	for _, g := range sz.GpuDevices {
		gpus = append(gpus, map[string]any{"name": g.Name, "device_name": g.DeviceName})
	}
	return map[string]any{
		"display_name": sz.DisplayName, "description": sz.Description, "cpu_cores": sz.CPUCores, "memory_mib": sz.MemoryMib,
		"cpu_overcommit": sz.CPUOvercommit, "cpu_request": cpuReq, "cpu_limit": cpuLim,
		"mem_overcommit": sz.MemOvercommit, "mem_request": memReq, "mem_limit": memLim,
		"dedicated_cpu": sz.DedicatedCPU, "hugepages_size": sz.HugepagesSize, "gpu_devices": gpus,
		"disk_default_gb": sz.DiskDefaultGB, "disk_min_gb": sz.DiskMinGB, "disk_max_gb": sz.DiskMaxGB,
		"enabled": sz.Enabled, "sort_order": sz.SortOrder,
		// Overrides are configuration, not secrets: the audit shows them in full.
		"spec_overrides": overrides,
	}
}
