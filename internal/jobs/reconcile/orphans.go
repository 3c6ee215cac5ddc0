package reconcile

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/provisioning"
)

// recordOrphans upserts a pending adoption for every labelled VM without a live row
// and removes the entries whose VM is gone or has a row again. Adopted entries stay
// as the record of what was adopted.
func recordOrphans(ctx context.Context, tx *db.Tx, c *ent.Cluster, list []kube.VMStatus, rep *Report) error {
	var labelled []kube.VMStatus
	var ns, names []string
	for _, s := range list {
		if s.Labels[provisioning.LabelManagedBy] == provisioning.ManagedByValue {
			labelled = append(labelled, s)
			ns, names = append(ns, s.Ref.Namespace), append(names, s.Ref.Name)
		}
	}
	rows, err := tx.SQL.QueryContext(ctx, `SELECT l.ns, l.name FROM unnest($2::text[], $3::text[]) AS l(ns, name)
WHERE NOT EXISTS (SELECT 1 FROM vms v WHERE v.cluster_id = $1 AND v.namespace_name = l.ns AND v.name = l.name AND v.deleted_at IS NULL)`,
		c.ID, ns, names)
	if err != nil {
		return err
	}
	orphan := map[kube.VMRef]bool{}
	for rows.Next() {
		var ref kube.VMRef
		if err := rows.Scan(&ref.Namespace, &ref.Name); err != nil {
			rows.Close()
			return err
		}
		orphan[ref] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	services := serviceResolver{tx: tx.SQL, cache: map[[2]string]bool{}}
	var keepNS, keepNames []string
	for _, s := range labelled {
		if !orphan[s.Ref] {
			continue
		}
		system, service := s.Labels[provisioning.LabelSystem], s.Labels[provisioning.LabelService]
		adoptable, err := services.exists(ctx, system, service)
		if err != nil {
			return err
		}
		rep.Orphans++
		if adoptable {
			rep.Adoptable++
		}
		keepNS, keepNames = append(keepNS, s.Ref.Namespace), append(keepNames, s.Ref.Name)
		// A re-created object (new uid) or a VM whose adopted row is gone again is a new
		// question for the admin; an ignored VM stays ignored while it is the same object.
		if _, err := tx.SQL.ExecContext(ctx, `INSERT INTO pending_adoptions (id, created_at, updated_at, cluster_id, cluster_name,
	namespace, name, k8s_uid, system_label, service_label, instance_label, adoptable, status, last_seen_at)
VALUES ($1, now(), now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PENDING', now())
ON CONFLICT (cluster_id, namespace, name) DO UPDATE SET
	k8s_uid = EXCLUDED.k8s_uid, system_label = EXCLUDED.system_label, service_label = EXCLUDED.service_label,
	instance_label = EXCLUDED.instance_label, adoptable = EXCLUDED.adoptable, last_seen_at = EXCLUDED.last_seen_at,
	updated_at = now(),
	status = CASE WHEN pending_adoptions.status = 'ADOPTED' OR pending_adoptions.k8s_uid <> EXCLUDED.k8s_uid
		THEN 'PENDING' ELSE pending_adoptions.status END`,
			uuid.New(), c.ID, c.Name, s.Ref.Namespace, s.Ref.Name, s.UID, system, service, s.Labels[provisioning.LabelInstance], adoptable); err != nil {
			return err
		}
	}
	res, err := tx.SQL.ExecContext(ctx, `DELETE FROM pending_adoptions AS p WHERE p.cluster_id = $1 AND p.status <> 'ADOPTED'
	AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(ns, name) WHERE k.ns = p.namespace AND k.name = p.name)`,
		c.ID, orEmpty(keepNS), orEmpty(keepNames))
	if err != nil {
		return err
	}
	rep.Removed, _ = res.RowsAffected()
	return nil
}

// serviceResolver answers "does the Service named by these labels exist?". Labels
// may carry names (system and service names are DNS labels) or ids; both resolve.
type serviceResolver struct {
	tx    *sql.Tx
	cache map[[2]string]bool
}

func (r serviceResolver) exists(ctx context.Context, system, service string) (bool, error) {
	if service == "" {
		return false, nil
	}
	key := [2]string{system, service}
	if ok, seen := r.cache[key]; seen {
		return ok, nil
	}
	var found bool
	err := r.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM services s JOIN systems y ON y.id = s.system_id
WHERE s.deleted_at IS NULL AND y.deleted_at IS NULL
	AND (s.name = $2 OR s.id::text = $2)
	AND ($1 = '' AND s.id::text = $2 OR y.name = $1 OR y.id::text = $1))`, system, service).Scan(&found)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	r.cache[key] = found
	return found, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
