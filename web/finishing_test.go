package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Status sync shows a VM RUNNING as soon as its cluster does, a moment before the create
// worker records the outcome. The request page then says the creation is finishing,
// not that the VM is still on its way.
func TestRequestOfARunningVMSaysFinishing(t *testing.T) {
	env := apptest.Start(t)
	ctx := context.Background()
	c := env.App.Store.Ent
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(ctx)
	svc := c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(ctx)
	ns := c.Namespace.Query().FirstX(ctx)
	size := c.InstanceSize.Query().FirstX(ctx)
	ticket := uuid.MustParse(newTicket(t, env, svc.ID, ns.ID, size.ID))
	vmID := uuid.MustParse(newVM(t, env, svc.ID, ns.ID, size.ID))
	now := time.Now()
	c.ApprovalTicket.UpdateOneID(ticket).SetStatus(approvalticket.StatusEXECUTING).SetVMID(vmID).SetApproverName("bob").
		SetDecidedAt(now).SetSteps([]schema.ExecStep{
		{Name: domain.StepQueued, State: domain.StepStateDone, At: now},
		{Name: domain.StepNamespace, State: domain.StepStateDone, At: now},
		{Name: domain.StepApplied, State: domain.StepStateDone, At: now},
	}).ExecX(ctx)
	alice := env.Client(t)
	env.LoginOIDC(t, alice, "demo-alice")

	c.VM.UpdateOneID(vmID).SetStatus(vm.StatusCREATING).ExecX(ctx)
	_, body, _ := env.Get(t, alice, "/requests/"+ticket.String())
	if strings.Contains(body, "finishing") {
		t.Error("a VM still being created is said to be finishing")
	}
	c.VM.UpdateOneID(vmID).SetStatus(vm.StatusRUNNING).ExecX(ctx)
	status, body, _ := env.Get(t, alice, "/requests/"+ticket.String())
	if status != http.StatusOK || !strings.Contains(body, "Running — finishing") {
		t.Errorf("request page of a running VM whose creation is being recorded: %d, no 'Running — finishing'", status)
	}
}
