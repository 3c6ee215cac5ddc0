package catalog

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// ClusterInput is the register/edit form of a cluster record. Until live capability
// detection exists (a later issue), the admin declares what the cluster offers.
type ClusterInput struct {
	Name                string
	Environment         string
	Provider            string // sim | kubevirt; fixed after registration
	SchedulingWeight    int
	StorageClasses      []string
	DefaultStorageClass string
	GPUDevices          []string
	Hugepages           []string
	DedicatedCPU        bool
}

// Limits of the cluster form.
const (
	MaxSchedulingWeight = 1000
	clusterNameMax      = 63
)

// HugepageSizes are the page sizes KubeVirt supports.
var HugepageSizes = []string{"2Mi", "1Gi"}

var (
	// A StorageClass name is a DNS subdomain.
	storageClassName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	// An extended resource name, such as nvidia.com/GA102GL_A10.
	resourceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

// Normalize fills the default storage class when there is only one to choose.
func (in *ClusterInput) Normalize() {
	if in.DefaultStorageClass == "" && len(in.StorageClasses) == 1 {
		in.DefaultStorageClass = in.StorageClasses[0]
	}
}

// Validate checks the record without the database.
func (in ClusterInput) Validate() domain.FieldErrors {
	fe := domain.FieldErrors{}
	checkDNSName(fe, "name", in.Name, clusterNameMax)
	checkEnvironment(fe, "environment", in.Environment)
	if in.Provider != string(cluster.ProviderSim) && in.Provider != string(cluster.ProviderKubevirt) {
		fe.Add("provider", "Choose sim or kubevirt.")
	}
	if in.SchedulingWeight < 0 || in.SchedulingWeight > MaxSchedulingWeight {
		fe.Add("scheduling_weight", fmt.Sprintf("Use a whole number from 0 to %d.", MaxSchedulingWeight))
	}
	for _, sc := range in.StorageClasses {
		if len(sc) > 253 || !storageClassName.MatchString(sc) {
			fe.Add("storage_classes", fmt.Sprintf("%q is not a valid StorageClass name.", sc))
		}
	}
	switch {
	case in.DefaultStorageClass == "" && len(in.StorageClasses) > 0:
		fe.Add("default_storage_class", "Choose which of the storage classes is the default.")
	case in.DefaultStorageClass != "" && !slices.Contains(in.StorageClasses, in.DefaultStorageClass):
		fe.Add("default_storage_class", "The default must be one of the storage classes listed above.")
	}
	for _, g := range in.GPUDevices {
		if len(g) > 253 || !resourceName.MatchString(g) {
			fe.Add("gpu_devices", fmt.Sprintf("%q is not a resource name like nvidia.com/GA102GL_A10.", g))
		}
	}
	for _, h := range in.Hugepages {
		if !slices.Contains(HugepageSizes, h) {
			fe.Add("hugepages", "Hugepage sizes are 2Mi and 1Gi.")
		}
	}
	return fe
}

// RegisterCluster records a cluster. Simulated clusters run in-process and are healthy
// from the start; real ones stay UNKNOWN until a health check has reached them.
func (s *Service) RegisterCluster(ctx context.Context, a Actor, in ClusterInput) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	in.Normalize()
	if err := in.Validate().Err(); err != nil {
		return nil, err
	}
	status := cluster.StatusUNKNOWN
	var checked *time.Time
	if in.Provider == string(cluster.ProviderSim) {
		now := time.Now()
		status, checked = cluster.StatusHEALTHY, &now
	}
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := tx.Ent.Cluster.Query().Where(cluster.Name(in.Name)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return nameTaken(in.Name)
		}
		c, err = tx.Ent.Cluster.Create().SetName(in.Name).SetEnvironment(cluster.Environment(in.Environment)).
			SetProvider(cluster.Provider(in.Provider)).SetStatus(status).SetNillableLastCheckedAt(checked).
			SetSchedulingWeight(in.SchedulingWeight).SetStorageClasses(in.StorageClasses).
			SetDefaultStorageClass(in.DefaultStorageClass).SetGpuDevices(in.GPUDevices).SetHugepages(in.Hugepages).
			SetDedicatedCPU(in.DedicatedCPU).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("cluster.register", "cluster", c.ID.String(), c.Name, in.Environment,
			clusterFields(c)))
	})
	if uniqueViolation(err, "") {
		err = nameTaken(in.Name)
	}
	return c, err
}

// UpdateCluster changes a record; name and provider are fixed because VMs and jobs
// refer to the cluster by them.
func (s *Service) UpdateCluster(ctx context.Context, a Actor, id uuid.UUID, in ClusterInput) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Cluster.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		in.Name, in.Provider = old.Name, string(old.Provider)
		in.Normalize()
		if err := in.Validate().Err(); err != nil {
			return err
		}
		c, err = old.Update().SetEnvironment(cluster.Environment(in.Environment)).SetSchedulingWeight(in.SchedulingWeight).
			SetStorageClasses(in.StorageClasses).SetDefaultStorageClass(in.DefaultStorageClass).
			SetGpuDevices(in.GPUDevices).SetHugepages(in.Hugepages).SetDedicatedCPU(in.DedicatedCPU).Save(ctx)
		if err != nil {
			return err
		}
		before, after := changes(clusterFields(old), clusterFields(c))
		if len(after) == 0 {
			return nil
		}
		return audit.Write(ctx, tx.Ent, a.entry("cluster.update", "cluster", id.String(), c.Name, string(c.Environment),
			map[string]any{"old": before, "new": after}))
	})
	return c, err
}

// SetClusterEnabled takes a cluster out of (or back into) placement decisions.
func (s *Service) SetClusterEnabled(ctx context.Context, a Actor, id uuid.UUID, enabled bool) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Cluster.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if old.Enabled == enabled {
			c = old
			return nil
		}
		if c, err = old.Update().SetEnabled(enabled).Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry(toggleAction("cluster", enabled), "cluster", id.String(), c.Name,
			string(c.Environment), nil))
	})
	return c, err
}

// ListClusters returns every cluster by name (spec: clusters sort by name).
func (s *Service) ListClusters(ctx context.Context) ([]*ent.Cluster, error) {
	return s.Store.Ent.Cluster.Query().Order(ent.Asc(cluster.FieldName)).All(ctx)
}

// Cluster loads one cluster.
func (s *Service) Cluster(ctx context.Context, id uuid.UUID) (*ent.Cluster, error) {
	c, err := s.Store.Ent.Cluster.Get(ctx, id)
	return c, notFound(err)
}

func clusterFields(c *ent.Cluster) map[string]any {
	return map[string]any{
		"environment": string(c.Environment), "provider": string(c.Provider), "scheduling_weight": c.SchedulingWeight,
		"storage_classes": c.StorageClasses, "default_storage_class": c.DefaultStorageClass,
		"gpu_devices": c.GpuDevices, "hugepages": c.Hugepages, "dedicated_cpu": c.DedicatedCPU,
	}
}

// changes keeps only the fields whose values differ, for old/new audit details.
func changes(before, after map[string]any) (map[string]any, map[string]any) {
	o, n := map[string]any{}, map[string]any{}
	for k, v := range after {
		if fmt.Sprint(before[k]) != fmt.Sprint(v) {
			o[k], n[k] = before[k], v
		}
	}
	return o, n
}
