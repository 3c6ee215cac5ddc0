package catalog

import (
	"context"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/clusterhealthcheck"
)

// Health history retention: a cluster keeps at most HealthHistoryKeep checks, none older
// than HealthHistoryMaxAge. At the default check interval (60 s) the count is the bound
// (about 8 hours); with longer intervals the age is.
const (
	HealthHistoryKeep   = 500
	HealthHistoryMaxAge = 7 * 24 * time.Hour
)

// HealthCheck is one observation of a cluster for its history.
type HealthCheck struct {
	ClusterID         uuid.UUID
	CheckedAt         time.Time
	Status            clusterhealthcheck.Status
	Message           string
	KubernetesVersion string
	KubeVirtVersion   string
	Took              time.Duration
}

// RecordHealthCheck appends a check to a cluster's history.
func RecordHealthCheck(ctx context.Context, client *ent.Client, h HealthCheck) error {
	if h.CheckedAt.IsZero() {
		h.CheckedAt = time.Now()
	}
	return client.ClusterHealthCheck.Create().
		SetClusterID(h.ClusterID).
		SetCheckedAt(h.CheckedAt).
		SetStatus(h.Status).
		SetMessage(h.Message).
		SetKubernetesVersion(h.KubernetesVersion).
		SetKubevirtVersion(h.KubeVirtVersion).
		SetDurationMs(int(h.Took.Milliseconds())).
		Exec(ctx)
}

// recordCheck records the connection test of a registration or rotation as a check.
func recordCheck(ctx context.Context, client *ent.Client, c *ent.Cluster, message string, took time.Duration) error {
	return RecordHealthCheck(ctx, client, HealthCheck{
		ClusterID:         c.ID,
		CheckedAt:         *c.LastCheckedAt,
		Status:            clusterhealthcheck.Status(c.Status),
		Message:           message,
		KubernetesVersion: c.KubernetesVersion,
		KubeVirtVersion:   c.KubevirtVersion,
		Took:              took,
	})
}

// PruneHealthHistory drops a cluster's checks beyond the newest keep and those older
// than maxAge; it walks the (cluster_id, checked_at DESC) index.
func PruneHealthHistory(ctx context.Context, client *ent.Client, clusterID uuid.UUID, keep int, maxAge time.Duration) (int, error) {
	cutoff := time.Now().Add(-maxAge)
	old, err := client.ClusterHealthCheck.Query().
		Where(clusterhealthcheck.ClusterID(clusterID)).
		Order(ent.Desc(clusterhealthcheck.FieldCheckedAt)).
		Offset(keep).
		IDs(ctx)
	if err != nil {
		return 0, err
	}
	n, err := client.ClusterHealthCheck.Delete().Where(clusterhealthcheck.ClusterID(clusterID),
		clusterhealthcheck.Or(clusterhealthcheck.IDIn(old...), clusterhealthcheck.CheckedAtLT(cutoff))).Exec(ctx)
	return n, err
}

// PruneStaleHealthHistory drops every check older than maxAge, including those of
// clusters that are disabled or deleted and so no longer checked.
func PruneStaleHealthHistory(ctx context.Context, client *ent.Client, maxAge time.Duration) (int, error) {
	return client.ClusterHealthCheck.Delete().Where(clusterhealthcheck.CheckedAtLT(time.Now().Add(-maxAge))).Exec(ctx)
}

// HealthHistory returns a cluster's newest checks, newest first.
func HealthHistory(ctx context.Context, client *ent.Client, clusterID uuid.UUID, limit int) ([]*ent.ClusterHealthCheck, error) {
	return client.ClusterHealthCheck.Query().
		Where(clusterhealthcheck.ClusterID(clusterID)).
		Order(ent.Desc(clusterhealthcheck.FieldCheckedAt)).
		Limit(limit).
		All(ctx)
}
