package statussync

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/kube"
)

// The writes below are plain SQL rather than Ent because each is one conditional
// statement over a batch: a re-list of a cluster with thousands of VMs must cost a
// handful of statements and write only the rows whose observed state changed.
//
// Ownership (see the brief of issue 4): CREATING, DELETING and DELETED rows belong to
// the workers, so every statement here skips them — with one exception: a CREATING VM
// seen Running is shown RUNNING at once (with its IP and node), so the page never says
// "creating" about a VM that runs while its create job has yet to record the outcome
// (its ticket keeps its last step until then, and no other operation can start).

// DB is what the writes need: *sql.DB or *sql.Tx.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// batchSize bounds the arrays sent per statement.
const batchSize = 500

// workerOwned is the SQL list of statuses status sync never writes.
const workerOwned = `('CREATING', 'DELETING', 'DELETED')`

// MissingMessage is the status message of a VM whose cluster object is gone.
func MissingMessage(clusterName string) string {
	return fmt.Sprintf("not found on cluster %s — deleted outside Shepherd?", clusterName)
}

// The observed message replaces the stored one only when it says something, or when
// the status changes or the VM comes back: a worker's failure note on an otherwise
// unchanged VM is not wiped by the next quiet observation.
const applySQL = `UPDATE vms AS v SET
	status = o.status,
	status_message = CASE WHEN o.msg <> '' OR v.status <> o.status OR NOT v.k8s_exists THEN o.msg ELSE v.status_message END,
	ip = o.ip, node = o.node, k8s_exists = true,
	k8s_uid = CASE WHEN v.k8s_uid = '' THEN o.uid ELSE v.k8s_uid END,
	synced_at = now(), updated_at = now()
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS o(ns, name, status, msg, ip, node, uid)
WHERE v.cluster_id = $1 AND v.namespace_name = o.ns AND v.name = o.name AND v.deleted_at IS NULL
	AND (v.status NOT IN ` + workerOwned + ` OR (v.status = 'CREATING' AND o.status = 'RUNNING'))
	AND (v.status <> o.status OR v.ip <> o.ip OR v.node <> o.node OR NOT v.k8s_exists
		OR (o.msg <> '' AND v.status_message <> o.msg) OR (v.k8s_uid = '' AND o.uid <> ''))`

// Apply writes observed statuses of cluster clusterID to the matching VM rows and
// returns how many rows changed. Refs must be unique within statuses.
func Apply(ctx context.Context, db DB, clusterID uuid.UUID, statuses []kube.VMStatus) (int64, error) {
	var total int64
	for start := 0; start < len(statuses); start += batchSize {
		batch := statuses[start:min(start+batchSize, len(statuses))]
		cols := make([][]string, 7)
		for i := range cols {
			cols[i] = make([]string, 0, len(batch))
		}
		for _, s := range batch {
			for i, v := range []string{s.Ref.Namespace, s.Ref.Name, string(clusters.VMStatus(s.Phase)), s.Message, s.IP, s.Node, s.UID} {
				cols[i] = append(cols[i], v)
			}
		}
		res, err := db.ExecContext(ctx, applySQL, clusterID, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
		if err != nil {
			return total, fmt.Errorf("apply vm statuses: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

const markMissingSet = `k8s_exists = false, status = 'UNKNOWN', status_message = $2, ip = '', node = '',
	synced_at = now(), updated_at = now()`

// markChanged keeps already-marked rows out of the write.
const markChanged = `(v.k8s_exists OR v.status <> 'UNKNOWN' OR v.status_message <> $2)`

// MarkGone records that the cluster object of one VM was deleted (a watch DELETED
// event). uid, when known, must match the row's k8s_uid, so the deletion of an older
// object of the same name cannot mark the VM a worker has just re-created; a row
// without a uid has not been applied yet and is left alone.
func MarkGone(ctx context.Context, db DB, clusterID uuid.UUID, clusterName string, ref kube.VMRef, uid string) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE vms AS v SET `+markMissingSet+`
WHERE v.cluster_id = $1 AND v.namespace_name = $3 AND v.name = $4 AND v.deleted_at IS NULL
	AND v.status NOT IN `+workerOwned+` AND v.k8s_uid <> '' AND ($5 = '' OR v.k8s_uid = $5) AND `+markChanged,
		clusterID, MissingMessage(clusterName), ref.Namespace, ref.Name, uid)
	if err != nil {
		return false, fmt.Errorf("mark vm %s gone: %w", ref, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// absentFrom selects candidate rows not among the listed refs ($3, $4).
const absentFrom = `NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS l(ns, name)
	WHERE l.ns = v.namespace_name AND l.name = v.name)`

// candidates selects the rows that can be judged missing: live, not owned by a worker,
// already applied (they have a uid) and created before the cutoff (parameter cutoff),
// because a worker may have applied a VM that a list taken a moment earlier could not show.
func candidates(cutoff string) string {
	return `v.cluster_id = $1 AND v.deleted_at IS NULL AND v.status NOT IN ` + workerOwned + `
	AND v.k8s_uid <> '' AND v.created_at < ` + cutoff
}

// Missing is the outcome of comparing a full list with the database.
type Missing struct {
	Candidates int   // rows that could be judged
	Absent     int   // of those, rows whose VM is not in the list
	Marked     int64 // rows written (newly marked)
	Halted     bool  // the circuit breaker refused to mark anything
}

// TooManyGhosts is the circuit breaker of spec §7.7: when more than half of the VMs
// that should exist look gone, the list is more likely wrong (another cluster behind
// the kubeconfig, a namespace filter, a broken API) than the VMs deleted.
func TooManyGhosts(absent, candidates int) bool { return candidates > 0 && absent*2 > candidates }

// MarkMissing marks candidate rows of the cluster that are absent from listed as gone,
// unless the circuit breaker trips. grace protects rows created less than that ago.
func MarkMissing(ctx context.Context, db DB, clusterID uuid.UUID, clusterName string, listed []kube.VMStatus, grace time.Duration) (Missing, error) {
	ns, names := make([]string, 0, len(listed)), make([]string, 0, len(listed))
	for _, s := range listed {
		ns, names = append(ns, s.Ref.Namespace), append(names, s.Ref.Name)
	}
	cutoff := time.Now().Add(-grace)
	msg := MissingMessage(clusterName)
	var m Missing
	err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE `+absentFrom+`) FROM vms AS v
WHERE `+candidates("$2"), clusterID, cutoff, ns, names).Scan(&m.Candidates, &m.Absent)
	if err != nil {
		return m, fmt.Errorf("count missing vms: %w", err)
	}
	if m.Absent == 0 {
		return m, nil
	}
	if TooManyGhosts(m.Absent, m.Candidates) {
		m.Halted = true
		return m, nil
	}
	res, err := db.ExecContext(ctx, `UPDATE vms AS v SET `+markMissingSet+`
WHERE `+candidates("$5")+` AND `+absentFrom+` AND `+markChanged, clusterID, msg, ns, names, cutoff)
	if err != nil {
		return m, fmt.Errorf("mark missing vms: %w", err)
	}
	m.Marked, _ = res.RowsAffected()
	return m, nil
}
