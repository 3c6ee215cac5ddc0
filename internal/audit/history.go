package audit

import (
	"context"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/predicate"
)

// History page sizes follow the list conventions of spec/flows.md §4 (20 by default, at most 100).
const (
	HistoryPerPage    = 20
	HistoryMaxPerPage = 100
)

// ListForResource returns one page of a resource's audit rows, newest first, and the total.
// The filter and order match the (resource_type, resource_id, created_at) index, so the
// page is read from the index even for resources with long histories. Callers decide
// whether the viewer may see the resource; this function only reads.
func ListForResource(ctx context.Context, client *ent.Client, resourceType, resourceID string, page, perPage int) ([]*ent.AuditLog, int, error) {
	return listHistory(ctx, client, auditlog.And(auditlog.ResourceType(resourceType), auditlog.ResourceID(resourceID)), page, perPage)
}

// ListForVM is a VM's history: rows about the VM itself and about the tickets (requests,
// approvals) that concern it, newest first.
func ListForVM(ctx context.Context, client *ent.Client, vmID string, ticketIDs []string, page, perPage int) ([]*ent.AuditLog, int, error) {
	where := auditlog.And(auditlog.ResourceType("vm"), auditlog.ResourceID(vmID))
	if len(ticketIDs) > 0 {
		where = auditlog.Or(where, auditlog.And(auditlog.ResourceType("ticket"), auditlog.ResourceIDIn(ticketIDs...)))
	}
	return listHistory(ctx, client, where, page, perPage)
}

// listHistory returns one page of matching rows, newest first, and the total.
func listHistory(ctx context.Context, client *ent.Client, where predicate.AuditLog, page, perPage int) ([]*ent.AuditLog, int, error) {
	if perPage <= 0 {
		perPage = HistoryPerPage
	}
	if perPage > HistoryMaxPerPage {
		perPage = HistoryMaxPerPage
	}
	if page < 1 {
		page = 1
	}
	q := client.AuditLog.Query().Where(where)
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count audit rows: %w", err)
	}
	rows, err := q.Order(auditlog.ByCreatedAt(entsql.OrderDesc()), auditlog.ByID(entsql.OrderDesc())).
		Offset((page - 1) * perPage).Limit(perPage).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit rows: %w", err)
	}
	return rows, total, nil
}
