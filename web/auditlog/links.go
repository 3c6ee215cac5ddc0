package auditlog

import (
	"context"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/ticketbatch"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/views/auditview"
)

// pageLinks links each row's VM, request, batch, System or Service to its page while it still
// exists, deleted VMs included: their page stays (one query per resource type on the page).
func pageLinks(ctx context.Context, client *ent.Client, rows []auditview.Row) error {
	ids := map[string][]uuid.UUID{}
	for _, r := range rows {
		if id, err := uuid.Parse(r.ResourceID); err == nil {
			ids[r.ResourceType] = append(ids[r.ResourceType], id)
		}
	}
	exists := map[string]bool{}
	mark := func(typ string, found []uuid.UUID, err error) error {
		for _, id := range found {
			exists[typ+" "+id.String()] = true
		}
		return err
	}
	if l := ids["vm"]; len(l) > 0 {
		found, err := client.VM.Query().Where(vm.IDIn(l...)).IDs(ctx)
		if err := mark("vm", found, err); err != nil {
			return err
		}
	}
	if l := ids["ticket"]; len(l) > 0 {
		found, err := client.ApprovalTicket.Query().Where(approvalticket.IDIn(l...)).IDs(ctx)
		if err := mark("ticket", found, err); err != nil {
			return err
		}
	}
	if l := ids["system"]; len(l) > 0 {
		found, err := client.System.Query().Where(system.IDIn(l...), system.DeletedAtIsNil()).IDs(ctx)
		if err := mark("system", found, err); err != nil {
			return err
		}
	}
	if l := ids["service"]; len(l) > 0 {
		found, err := client.Service.Query().Where(service.IDIn(l...), service.DeletedAtIsNil()).IDs(ctx)
		if err := mark("service", found, err); err != nil {
			return err
		}
	}
	if l := ids["batch"]; len(l) > 0 {
		found, err := client.TicketBatch.Query().Where(ticketbatch.IDIn(l...)).IDs(ctx)
		if err := mark("batch", found, err); err != nil {
			return err
		}
	}
	paths := map[string]string{"vm": "/vms/", "ticket": "/requests/", "system": "/systems/", "service": "/services/", "batch": "/batches/"}
	for i, r := range rows {
		if exists[r.ResourceType+" "+r.ResourceID] {
			rows[i].PageURL = paths[r.ResourceType] + r.ResourceID
		}
	}
	return nil
}
