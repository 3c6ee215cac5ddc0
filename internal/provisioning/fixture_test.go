package provisioning

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube/sim"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// fixture: testorg's organisation (alice requests, bob approves, olga owns System
// shop) on one simulated test cluster, and an executor with near-zero waits.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *db.Store
	gov   *governance.Service
	exec  *Executor
	reg   *clusters.Registry
	sim   *sim.Cluster
	*testorg.Org
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	ins, err := river.NewClient(riverdatabasesql.New(store.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: store, gov: &governance.Service{Store: store, Jobs: ins}}
	f.Org = testorg.New(t, ctx, store.Ent, "sim-a")
	f.reg = clusters.New(store, clusters.Options{Concurrency: 4})
	t.Cleanup(f.reg.Close)
	f.sim = f.reg.Sim(ctx, "sim-a")
	f.exec = &Executor{Store: store, Clusters: f.reg, Logger: slog.New(slog.DiscardHandler),
		CallTimeout: 5 * time.Second, ReadyTimeout: 5 * time.Second, PollInterval: time.Millisecond}
	return f
}

// drive runs a job as River would: again after each "not yet" (a snooze), until it
// ends. It returns the first other outcome.
func (f *fixture) drive(run func(context.Context, uuid.UUID, Attempt) error, ev uuid.UUID, at Attempt) error {
	f.t.Helper()
	for range 10000 {
		err := run(f.ctx, ev, at)
		after, later := jobs.IsNotYet(err)
		if !later {
			return err
		}
		time.Sleep(min(after, 20*time.Millisecond))
	}
	f.t.Fatal("the job never settled")
	return nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// approved submits alice's request and has bob approve it; it returns the event id
// the vm_create job would carry, and the VM row.
func (f *fixture) approved() (uuid.UUID, *ent.VM) {
	f.t.Helper()
	ev, v, err := f.Approved(f.ctx, f.store.Ent, f.gov)
	if err != nil {
		f.t.Fatal(err)
	}
	return ev, v
}

// running provisions a VM all the way and returns it.
func (f *fixture) running() *ent.VM {
	f.t.Helper()
	ev, v := f.approved()
	if err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5}); err != nil {
		f.t.Fatal(err)
	}
	return f.vm(v.ID)
}

// operation writes an auto-approved power or delete ticket for v directly (the
// governance use cases that do this in the product are tested in their package).
func (f *fixture) operation(v *ent.VM, typ approvalticket.Type, approver *ent.User) uuid.UUID {
	f.t.Helper()
	c := f.store.Ent
	ev := must(c.DomainEvent.Create().SetEventType("VM_" + string(typ)[3:] + "_REQUESTED").SetAggregateType("vm").
		SetAggregateID(v.ID.String()).SetPayload(map[string]any{"vm_id": v.ID.String()}).SetRequestedBy(f.Alice.ID).
		SetStatus(domainevent.StatusPROCESSING).Save(f.ctx))
	now := time.Now()
	tc := c.ApprovalTicket.Create().SetType(typ).SetStatus(approvalticket.StatusAPPROVED).SetEventID(ev.ID).
		SetRequesterID(f.Alice.ID).SetRequesterName("alice").SetReason("test").SetSystemID(v.SystemID).SetServiceID(v.ServiceID).
		SetNamespaceID(v.NamespaceID).SetNamespaceName(v.NamespaceName).SetEnvironment(approvalticket.Environment(v.Environment)).
		SetTargetName(v.Name).SetVMID(v.ID).SetDecidedAt(now)
	if approver != nil {
		tc = tc.SetApproverID(approver.ID).SetApproverName(approver.Username)
	} else {
		tc = tc.SetApproverName("auto-approved (test environment)")
	}
	must(tc.Save(f.ctx))
	return ev.ID
}

func (f *fixture) vm(id uuid.UUID) *ent.VM { return must(f.store.Ent.VM.Get(f.ctx, id)) }

func (f *fixture) ticketOf(ev uuid.UUID) *ent.ApprovalTicket {
	return must(f.store.Ent.ApprovalTicket.Query().Where(approvalticket.EventID(ev)).Only(f.ctx))
}

func (f *fixture) event(ev uuid.UUID) *ent.DomainEvent {
	return must(f.store.Ent.DomainEvent.Get(f.ctx, ev))
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.store.SQL.QueryRowContext(f.ctx, query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}
