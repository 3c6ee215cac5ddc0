package audit

import (
	"context"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/predicate"
	"kv-shepherd.io/shepherd/internal/paging"
)

// ListForResource returns one page of a resource's audit rows, newest first, and the total.
// Pages follow the list conventions (20 rows by default, at most 100); a page past the end
// is the last page. The filter and order match the (resource_type, resource_id, created_at) index, so the
// page is read from the index even for resources with long histories. Callers decide
// whether the viewer may see the resource; this function only reads.
func ListForResource(ctx context.Context, client *ent.Client, resourceType, resourceID string, pg paging.Page) ([]*ent.AuditLog, int, error) {
	return listHistory(ctx, client, auditlog.And(auditlog.ResourceType(resourceType), auditlog.ResourceID(resourceID)), pg)
}

// ListForVM is a VM's history: rows about the VM itself and about the tickets (requests,
// approvals) that concern it, newest first.
func ListForVM(ctx context.Context, client *ent.Client, vmID string, ticketIDs []string, pg paging.Page) ([]*ent.AuditLog, int, error) {
	where := auditlog.And(auditlog.ResourceType("vm"), auditlog.ResourceID(vmID))
	if len(ticketIDs) > 0 {
		where = auditlog.Or(where, auditlog.And(auditlog.ResourceType("ticket"), auditlog.ResourceIDIn(ticketIDs...)))
	}
	return listHistory(ctx, client, where, pg)
}

// listHistory returns one page of matching rows, newest first, and the total.
func listHistory(ctx context.Context, client *ent.Client, where predicate.AuditLog, pg paging.Page) ([]*ent.AuditLog, int, error) {
	q := client.AuditLog.Query().Where(where)
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count audit rows: %w", err)
	}
	pg = pg.Standard().Within(total)
	rows, err := q.Order(auditlog.ByCreatedAt(entsql.OrderDesc()), auditlog.ByID(entsql.OrderDesc())).
		Offset(pg.Offset()).Limit(pg.Limit()).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit rows: %w", err)
	}
	return rows, total, nil
}
