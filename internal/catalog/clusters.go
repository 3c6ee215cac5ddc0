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

// ClusterInput is the register/edit form of a cluster record. A simulated cluster's
// record is its hardware, so the admin declares what it offers; a real (kubevirt)
// cluster is registered from its kubeconfig and its capabilities are detected, so
// only its default storage class is a choice (among the detected classes).
type ClusterInput struct {
	Name             string
	Environment      string
	Provider         string // sim | kubevirt; fixed after registration
	SchedulingWeight int
	// Kubeconfig registers a kubevirt cluster. It is sealed before it is stored and
	// never returned, logged or audited.
	Kubeconfig          []byte
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

// Simulated reports whether the input is for an in-process simulated cluster.
func (in ClusterInput) Simulated() bool { return in.Provider == string(cluster.ProviderSim) }

// Normalize fills the default storage class when there is only one to choose.
func (in *ClusterInput) Normalize() {
	if in.DefaultStorageClass == "" && len(in.StorageClasses) == 1 {
		in.DefaultStorageClass = in.StorageClasses[0]
	}
}

// Validate checks the record without the database (and without the cluster: the
// kubeconfig is checked by RegisterCluster).
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
		if in.Simulated() {
			fe.Add("default_storage_class", "The default must be one of the storage classes listed above.")
		} else {
			fe.Add("default_storage_class", "The default must be one of the storage classes detected on the cluster.")
		}
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

// RegisterCluster records a cluster. A simulated one runs in-process and is healthy at
// once. A real one is registered from its kubeconfig only after Shepherd reached it:
// the kubeconfig is checked, the API server probed (KubeVirt served, VMs listable),
// the capabilities detected, and only then is the kubeconfig sealed and stored.
func (s *Service) RegisterCluster(ctx context.Context, a Actor, in ClusterInput) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	if !in.Simulated() {
		// Detected, never typed: whatever the form carried is ignored.
		in.StorageClasses, in.DefaultStorageClass, in.GPUDevices, in.Hugepages, in.DedicatedCPU = nil, "", nil, nil, false
	}
	in.Normalize()
	fe := in.Validate()
	if !in.Simulated() && fe["provider"] == "" {
		checkKubeconfig(fe, in.Kubeconfig)
	}
	if len(fe) > 0 {
		return nil, fe.Err()
	}
	// Before the probe, which can take its whole timeout.
	if err := clusterNameFree(ctx, s.Store.Ent, in.Name); err != nil {
		return nil, err
	}
	if in.Simulated() {
		return s.createCluster(ctx, a, in, nil)
	}
	conn, err := s.probe(ctx, in.Kubeconfig)
	if err != nil {
		return nil, kubeconfigError(err)
	}
	return s.createCluster(ctx, a, in, &conn)
}

// createCluster writes the row, the first health check of a real cluster and the audit
// row in one transaction. conn is the successful probe of a real cluster.
func (s *Service) createCluster(ctx context.Context, a Actor, in ClusterInput, conn *Connection) (*ent.Cluster, error) {
	var sealed string
	if conn != nil {
		var err error
		if sealed, err = s.seal(in.Kubeconfig); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := clusterNameFree(ctx, tx.Ent, in.Name); err != nil {
			return err
		}
		if conn != nil {
			if err := serverFree(ctx, tx.Ent, conn.Info.Server, uuid.Nil); err != nil {
				return err
			}
		}
		q := tx.Ent.Cluster.Create().
			SetName(in.Name).
			SetEnvironment(cluster.Environment(in.Environment)).
			SetProvider(cluster.Provider(in.Provider)).
			SetSchedulingWeight(in.SchedulingWeight).
			SetStatus(cluster.StatusHEALTHY).
			SetLastCheckedAt(now)
		details := map[string]any{}
		if conn == nil {
			q.SetStorageClasses(orEmpty(in.StorageClasses)).
				SetDefaultStorageClass(in.DefaultStorageClass).
				SetGpuDevices(orEmpty(in.GPUDevices)).
				SetHugepages(orEmpty(in.Hugepages)).
				SetDedicatedCPU(in.DedicatedCPU)
		} else {
			ApplyCapabilities(q.Mutation(), conn.Caps, "")
			q.SetKubeconfigSealed(sealed).
				SetAPIServerURL(conn.Info.Server).
				SetKubeconfigContext(conn.Info.Context).
				SetAuthMethod(conn.Info.AuthMethod).
				SetCredentialsRotatedAt(now)
			details = credentialDetails(conn)
		}
		var err error
		if c, err = q.Save(ctx); err != nil {
			return err
		}
		if conn != nil {
			if err := recordCheck(ctx, tx.Ent, c, "Registered: the connection test passed.", conn.Took); err != nil {
				return err
			}
		}
		for k, v := range clusterFields(c) {
			details[k] = v
		}
		return audit.Write(ctx, tx.Ent, a.entry("cluster.register", "cluster", c.ID.String(), c.Name, in.Environment, details))
	})
	if uniqueViolation(err, "") {
		err = nameTaken(in.Name)
	}
	return c, err
}

// clusterNameFree refuses a name in use, including a deleted cluster's: VM history,
// requests and audit rows name clusters, and a reused name would make them ambiguous.
func clusterNameFree(ctx context.Context, client *ent.Client, name string) error {
	c, err := client.Cluster.Query().Where(cluster.Name(name)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case c.DeletedAt != nil:
		fe := domain.FieldErrors{}
		fe.Add("name", fmt.Sprintf("%q belonged to a deleted cluster; names are not reused, so that its VMs' history stays unambiguous. Choose another.", name))
		return fe.Err()
	}
	return nameTaken(name)
}

// serverFree refuses an API server another live cluster already reaches: two records
// of one cluster would each watch, reconcile and place VMs on it.
func serverFree(ctx context.Context, client *ent.Client, server string, self uuid.UUID) error {
	other, err := client.Cluster.Query().
		Where(cluster.APIServerURL(server), cluster.DeletedAtIsNil(), cluster.IDNEQ(self)).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	fe := domain.FieldErrors{}
	fe.Add("kubeconfig", fmt.Sprintf("The API server %s is already registered as cluster %s; rotate that cluster's credentials instead.",
		server, other.Name))
	return fe.Err()
}

// UpdateCluster changes a record; name and provider are fixed because VMs and jobs
// refer to the cluster by them. A real cluster's capabilities are whatever the cluster
// reports, so only its environment, weight and default storage class change here.
func (s *Service) UpdateCluster(ctx context.Context, a Actor, id uuid.UUID, in ClusterInput) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := liveCluster(ctx, tx.Ent, id, false)
		if err != nil {
			return err
		}
		in.Name, in.Provider = old.Name, string(old.Provider)
		if !in.Simulated() {
			in.StorageClasses, in.GPUDevices, in.Hugepages, in.DedicatedCPU = old.StorageClasses, old.GpuDevices, old.Hugepages, old.DedicatedCPU
		}
		in.Normalize()
		if err := in.Validate().Err(); err != nil {
			return err
		}
		c, err = old.Update().
			SetEnvironment(cluster.Environment(in.Environment)).
			SetSchedulingWeight(in.SchedulingWeight).
			SetStorageClasses(orEmpty(in.StorageClasses)).
			SetDefaultStorageClass(in.DefaultStorageClass).
			SetGpuDevices(orEmpty(in.GPUDevices)).
			SetHugepages(orEmpty(in.Hugepages)).
			SetDedicatedCPU(in.DedicatedCPU).
			Save(ctx)
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
		old, err := liveCluster(ctx, tx.Ent, id, false)
		if err != nil {
			return err
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

// ListClusters returns every cluster that is not deleted, by name (spec: clusters sort by name).
func (s *Service) ListClusters(ctx context.Context) ([]*ent.Cluster, error) {
	return s.Store.Ent.Cluster.Query().Where(cluster.DeletedAtIsNil()).Order(ent.Asc(cluster.FieldName)).All(ctx)
}

// Cluster loads one cluster; a deleted one is not found.
func (s *Service) Cluster(ctx context.Context, id uuid.UUID) (*ent.Cluster, error) {
	return liveCluster(ctx, s.Store.Ent, id, false)
}

// liveCluster loads a cluster that is not deleted, locking its row when lock is set.
func liveCluster(ctx context.Context, client *ent.Client, id uuid.UUID, lock bool) (*ent.Cluster, error) {
	q := client.Cluster.Query().Where(cluster.ID(id), cluster.DeletedAtIsNil())
	if lock {
		q.ForUpdate()
	}
	c, err := q.Only(ctx)
	return c, notFound(err)
}

func clusterFields(c *ent.Cluster) map[string]any {
	return map[string]any{
		"environment":           string(c.Environment),
		"provider":              string(c.Provider),
		"scheduling_weight":     c.SchedulingWeight,
		"storage_classes":       c.StorageClasses,
		"default_storage_class": c.DefaultStorageClass,
		"gpu_devices":           c.GpuDevices,
		"hugepages":             c.Hugepages,
		"dedicated_cpu":         c.DedicatedCPU,
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

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
