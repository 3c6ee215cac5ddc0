// Package provisioning executes approved tickets on clusters: the use cases behind the
// vm_create, vm_power and vm_delete River jobs (spec/domain §4.8, flows §2.16–2.19).
//
// Every method follows the same shape. The ticket moves to EXECUTING, the cluster is
// called with no database transaction open, each step is recorded on the ticket so the
// portal can show progress, and the outcome (VM row, ticket, event, audit,
// notifications) commits in one transaction after the cluster call. Running a job twice
// is harmless: a finished event is a no-op, and cluster calls are idempotent
// (server-side apply, start of a running VM, delete of a missing VM).
package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube"
)

// WorkerName is the actor of the audit rows the workers write.
const WorkerName = "shepherd-worker"

// Executor runs tickets. Zero durations take the defaults below.
type Executor struct {
	Store    *db.Store
	Clusters *clusters.Registry
	Logger   *slog.Logger
	// CallTimeout bounds each cluster call (K8S_OPERATION_TIMEOUT).
	CallTimeout time.Duration
	// ReadyTimeout bounds the wait for a VM to reach its target phase, counted from the
	// cluster step across the job's runs; past it the ticket still succeeds and status
	// sync takes over (a slow boot is not a failure).
	ReadyTimeout time.Duration
	// PollInterval is the first pause before a job checks an unsettled VM again (the
	// job is snoozed meanwhile; the pause grows to 5 s). Default 250 ms.
	PollInterval time.Duration
	// Linger is how long the run that did the cluster step keeps checking the VM before
	// it ends "not yet". Default 3 s.
	Linger time.Duration
	Now    func() time.Time
	// afterApply is a test hook: it runs right after a successful ApplyVM, to simulate
	// a crash between the cluster call and the commit.
	afterApply func() error
}

// Attempt and PermanentError are the job outcome vocabulary shared with the workers.
type (
	Attempt        = jobs.Attempt
	PermanentError = jobs.PermanentError
)

// IsPermanent reports whether err must end the job without a retry.
func IsPermanent(err error) bool { return jobs.IsPermanent(err) }

// ErrEventGone is returned (as permanent) when the job's event no longer exists.
var ErrEventGone = errors.New("domain event not found")

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) callTimeout() time.Duration {
	if e.CallTimeout > 0 {
		return e.CallTimeout
	}
	return 5 * time.Minute
}

// work is what one job execution knows: the event, its ticket and the VM.
type work struct {
	event  *ent.DomainEvent
	ticket *ent.ApprovalTicket
	vm     *ent.VM
	steps  []schema.ExecStep
}

// load reads the job's event, ticket and VM. done is true when there is nothing left
// to do (the event finished or was cancelled), which makes a second run a no-op.
func (e *Executor) load(ctx context.Context, eventID uuid.UUID) (w *work, done bool, err error) {
	ev, err := e.Store.Ent.DomainEvent.Get(ctx, eventID)
	if ent.IsNotFound(err) {
		return nil, true, &PermanentError{Err: fmt.Errorf("%w: %s", ErrEventGone, eventID)}
	}
	if err != nil {
		return nil, false, err
	}
	if ev.Status != domainevent.StatusPROCESSING {
		return nil, true, nil
	}
	t, err := e.Store.Ent.ApprovalTicket.Query().Where(approvalticket.EventID(eventID)).Only(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("ticket of event %s: %w", eventID, err)
	}
	if t.Status != approvalticket.StatusAPPROVED && t.Status != approvalticket.StatusEXECUTING {
		return nil, true, nil
	}
	if t.VMID == nil {
		return nil, false, &PermanentError{Err: fmt.Errorf("ticket %s has no VM", t.ID)}
	}
	v, err := e.Store.Ent.VM.Get(ctx, *t.VMID)
	if err != nil {
		return nil, false, fmt.Errorf("vm of ticket %s: %w", t.ID, err)
	}
	return &work{event: ev, ticket: t, vm: v, steps: t.Steps}, false, nil
}

// run is one execution holding a slot on its cluster.
type run struct {
	*work
	prov    kube.Provider
	cluster *ent.Cluster
	release func()
}

// start loads the job's event, ticket and VM, marks the ticket EXECUTING and takes a
// slot on the VM's cluster (waiting while the cluster is at its limit). A nil run with
// a nil error means there is nothing left to do. The caller must call run.release.
func (e *Executor) start(ctx context.Context, eventID uuid.UUID, at Attempt, firstStep string) (*run, error) {
	w, done, err := e.load(ctx, eventID)
	if done || err != nil {
		return nil, err
	}
	if err := e.begin(ctx, w); err != nil {
		return nil, err
	}
	prov, cl, err := e.Clusters.Provider(ctx, w.vm.ClusterID)
	if err != nil {
		return nil, e.failed(ctx, w, at, firstStep, err)
	}
	release, err := e.Clusters.Acquire(ctx, cl.ID)
	if err != nil {
		return nil, err
	}
	return &run{work: w, prov: prov, cluster: cl, release: release}, nil
}

// begin marks the ticket EXECUTING and records the queue step as done (with the time
// the job waited), unless a previous run already did.
func (e *Executor) begin(ctx context.Context, w *work) error {
	if w.ticket.Status == approvalticket.StatusEXECUTING {
		return nil
	}
	queuedAt := e.now()
	if w.ticket.DecidedAt != nil {
		queuedAt = *w.ticket.DecidedAt
	}
	w.steps = setStep(w.steps, schema.ExecStep{Name: domain.StepQueued, State: domain.StepStateDone, At: queuedAt,
		Message: "picked up after " + e.now().Sub(queuedAt).Round(time.Millisecond).String()})
	return e.Store.Ent.ApprovalTicket.UpdateOneID(w.ticket.ID).
		Where(approvalticket.StatusEQ(approvalticket.StatusAPPROVED)).
		SetStatus(approvalticket.StatusEXECUTING).SetSteps(w.steps).Exec(ctx)
}

// step records progress outside any transaction; losing it in a crash only loses
// display detail, the next run records it again.
func (e *Executor) step(ctx context.Context, w *work, name, state, msg string) {
	w.steps = setStep(w.steps, schema.ExecStep{Name: name, State: state, At: e.now(), Message: msg})
	if err := e.Store.Ent.ApprovalTicket.UpdateOneID(w.ticket.ID).SetSteps(w.steps).Exec(ctx); err != nil {
		e.Logger.Warn("recording execution step", "ticket", w.ticket.ID, "step", name, "err", err)
	}
}

// setStep replaces the step of the same name or appends it.
func setStep(steps []schema.ExecStep, s schema.ExecStep) []schema.ExecStep {
	out := append([]schema.ExecStep(nil), steps...)
	for i := range out {
		if out[i].Name == s.Name {
			out[i] = s
			return out
		}
	}
	return append(out, s)
}

// call runs one cluster call under the per-call timeout.
func (e *Executor) call(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, e.callTimeout())
	defer cancel()
	return fn(ctx)
}

// maintainers are the owners and admins of a System: they hear about its VMs.
func maintainers(ctx context.Context, client *ent.Client, systemID uuid.UUID) ([]uuid.UUID, error) {
	return membersOf(ctx, client, systemID, systemmember.RoleOwner, systemmember.RoleAdmin)
}

// members are everyone in the VM's System (owners, admins, members, viewers): they hear
// of its deletion and of power operations others made.
func members(ctx context.Context, client *ent.Client, systemID uuid.UUID) ([]uuid.UUID, error) {
	return membersOf(ctx, client, systemID)
}

func membersOf(ctx context.Context, client *ent.Client, systemID uuid.UUID, roles ...systemmember.Role) ([]uuid.UUID, error) {
	q := client.SystemMember.Query().Where(systemmember.SystemID(systemID))
	if len(roles) > 0 {
		q = q.Where(systemmember.RoleIn(roles...))
	}
	ms, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.UserID)
	}
	return ids, nil
}

// describe turns a provider error into the message users see: the code, the cluster's
// text, and what an admin can do about it.
func describe(err error) (code, msg string) {
	ke := kube.Classify(err)
	if ke == nil {
		return kube.CodeInternal, err.Error()
	}
	return ke.Code, ke.Error()
}
