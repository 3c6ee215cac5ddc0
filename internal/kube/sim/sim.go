// Package sim is an in-process simulated KubeVirt cluster implementing
// kube.Provider. It backs the embedded default deployment, scale benchmarks
// and tests; ../conformance keeps it honest against the real provider.
//
// Delayed state transitions use time.AfterFunc and watch cancellation uses
// context.AfterFunc; the only goroutines are open consoles' (one per viewer,
// on the supervised runner), ended by Close.
package sim

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/validation"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/runner"
)

// Options configure a simulated cluster. The zero value is a healthy cluster
// whose transitions complete synchronously.
type Options struct {
	// StepDelay is how long each intermediate phase lasts (Starting,
	// Stopping). Zero applies every step synchronously inside the call.
	StepDelay time.Duration
	// Capabilities is reported verbatim by Capabilities().
	Capabilities kube.Capabilities
	// Nodes VMs are scheduled onto, round robin. Default: sim-node-1..3.
	Nodes []string
	// WatchBuffer is the per-watch event buffer. Default 1024.
	WatchBuffer int
	// StateFile, when set, makes the cluster durable: its namespaces and VMs
	// are loaded from this JSON file by Open and rewritten atomically before
	// every mutating call returns, so a restarted process finds the VMs a
	// killed one created, as it would on a real cluster. Empty keeps
	// everything in memory. Only Open accepts it; New panics.
	StateFile string
	// ConsoleBootDelay is how long a VM's console takes to print its boot log
	// before the login prompt. Zero = rfb.DefaultBootDelay; negative = instant.
	ConsoleBootDelay time.Duration
}

// Operation names accepted by FailNext; they match the Provider methods.
const (
	OpEnsureNamespace = "EnsureNamespace"
	OpApplyVM         = "ApplyVM"
	OpStartVM         = "StartVM"
	OpStopVM          = "StopVM"
	OpRestartVM       = "RestartVM"
	OpDeleteVM        = "DeleteVM"
	OpGetVM           = "GetVM"
	OpListVMs         = "ListVMs"
	OpWatch           = "Watch"
	OpCapabilities    = "Capabilities"
	OpHealth          = "Health"
)

// Cluster is the simulated cluster. All state is guarded by mu.
type Cluster struct {
	opts Options
	// run supervises console connections; stop ends them (Close).
	run  *runner.Runner
	stop context.CancelFunc

	mu         sync.Mutex
	namespaces map[string]map[string]string // name -> labels
	vms        map[kube.VMRef]*vm
	watchers   map[*watcher]struct{}
	failNext   map[string]error
	slow       time.Duration
	unhealthy  bool
	nextIP     int
	nextNode   int
	// dirty is set by every change not yet written to StateFile. A failed
	// write leaves it set so the next call (typically the caller's retry)
	// writes again instead of returning success for unsaved state.
	dirty bool
}

type vm struct {
	spec     kube.VMSpec
	status   kube.VMStatus
	plan     []kube.Phase // phases still to pass through, in order
	epoch    int          // bumped on every replan; stale timers compare it
	timer    *time.Timer
	deleting bool // removed when plan drains
	console  *console
}

type watcher struct {
	ch   chan kube.Event
	stop func() bool // unregisters the context.AfterFunc
}

var (
	_ kube.Provider = (*Cluster)(nil)
	_ kube.Faults   = (*Cluster)(nil)
)

// New returns an empty, healthy, in-memory simulated cluster. It panics if
// opts.StateFile is set: loading a file can fail, so durable clusters are
// built with Open, which returns the error.
func New(opts Options) *Cluster {
	if opts.StateFile != "" {
		panic("sim.New: Options.StateFile is set; use sim.Open for a durable cluster")
	}
	return newCluster(opts)
}

func newCluster(opts Options) *Cluster {
	if len(opts.Nodes) == 0 {
		opts.Nodes = []string{"sim-node-1", "sim-node-2", "sim-node-3"}
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = 1024
	}
	if opts.Capabilities.KubeVirtVersion == "" {
		opts.Capabilities.KubeVirtVersion = "v1.9.0-sim"
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Cluster{
		opts:       opts,
		run:        runner.New(ctx, slog.Default()),
		stop:       stop,
		namespaces: map[string]map[string]string{},
		vms:        map[kube.VMRef]*vm{},
		watchers:   map[*watcher]struct{}{},
		failNext:   map[string]error{},
	}
}

// EnsureNamespace implements kube.Provider.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string, labels map[string]string) (bool, error) {
	if err := c.enter(ctx, OpEnsureNamespace); err != nil {
		return false, err
	}
	defer c.mu.Unlock()
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return false, kube.NewPermanent(kube.CodeNamespaceNameInvalid,
			fmt.Sprintf("namespace %q: %s", name, strings.Join(errs, "; ")))
	}
	if _, ok := c.namespaces[name]; ok {
		return false, c.commitLocked()
	}
	c.namespaces[name] = maps.Clone(labels)
	c.dirty = true
	if err := c.commitLocked(); err != nil {
		return false, err
	}
	return true, nil
}

// ApplyVM implements kube.Provider with server-side-apply semantics: the
// spec replaces what Shepherd owns; an identical spec changes nothing and
// emits no event.
func (c *Cluster) ApplyVM(ctx context.Context, spec kube.VMSpec) (kube.VMStatus, error) {
	if err := kube.ValidateSpec(spec); err != nil {
		return kube.VMStatus{}, err
	}
	if err := c.enter(ctx, OpApplyVM); err != nil {
		return kube.VMStatus{}, err
	}
	defer c.mu.Unlock()
	if _, ok := c.namespaces[spec.Ref.Namespace]; !ok {
		return kube.VMStatus{}, &kube.Error{Kind: kube.NotFound, Code: kube.CodeResourceNotFound,
			Message: fmt.Sprintf("namespaces %q not found", spec.Ref.Namespace)}
	}
	v := c.applyLocked(cloneSpec(spec))
	if err := c.commitLocked(); err != nil {
		return kube.VMStatus{}, err
	}
	return c.statusLocked(v), nil
}

// applyLocked creates or updates the VM for spec (already cloned). A new
// running VM starts Pending and reaches Running one StepDelay per phase
// later, like a VMI being scheduled and booted.
func (c *Cluster) applyLocked(spec kube.VMSpec) *vm {
	v, ok := c.vms[spec.Ref]
	if !ok || v.deleting {
		if ok { // re-created while terminating: the old object is gone first
			c.removeLocked(v)
		}
		v = &vm{spec: spec, status: kube.VMStatus{
			Ref: spec.Ref, UID: uuid.NewString(), Phase: kube.PhaseStopped, Exists: true,
		}}
		c.vms[spec.Ref] = v
		if spec.Running {
			v.status.Phase = kube.PhasePending
		}
		c.emitLocked(kube.EventAdded, v)
		if spec.Running {
			c.replanLocked(v, kube.PhaseStarting, kube.PhaseRunning)
		}
		return v
	}
	if reflect.DeepEqual(v.spec, spec) {
		return v
	}
	wasRunning := v.spec.Running
	v.spec = spec
	switch {
	case spec.Running && !wasRunning:
		c.startLocked(v)
	case !spec.Running && wasRunning:
		c.stopLocked(v)
	default:
		c.emitLocked(kube.EventModified, v) // spec-only change: new generation
	}
	return v
}

// StartVM implements kube.Provider. Starting a running VM is a no-op so a
// retried worker job does not fail on its own earlier success.
func (c *Cluster) StartVM(ctx context.Context, ref kube.VMRef) error {
	v, err := c.lookup(ctx, OpStartVM, ref)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if v.deleting {
		return errTerminating(ref)
	}
	c.setRunningLocked(v, true)
	if v.status.Phase != kube.PhaseRunning && v.status.Phase != kube.PhaseStarting {
		c.startLocked(v)
	}
	return c.commitLocked()
}

// StopVM implements kube.Provider; stopping a stopped VM is a no-op.
func (c *Cluster) StopVM(ctx context.Context, ref kube.VMRef) error {
	v, err := c.lookup(ctx, OpStopVM, ref)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if v.deleting {
		return errTerminating(ref)
	}
	c.setRunningLocked(v, false)
	if v.status.Phase != kube.PhaseStopped && v.status.Phase != kube.PhaseStopping {
		c.stopLocked(v)
	}
	return c.commitLocked()
}

// RestartVM implements kube.Provider. Like KubeVirt, restarting a VM that is
// not running is refused; that is permanent, retrying will not help.
func (c *Cluster) RestartVM(ctx context.Context, ref kube.VMRef) error {
	v, err := c.lookup(ctx, OpRestartVM, ref)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if v.deleting {
		return errTerminating(ref)
	}
	if !v.spec.Running || v.status.Phase == kube.PhaseStopped {
		return kube.NewPermanent(kube.CodeConflict, "virtual machine "+ref.String()+" is not running")
	}
	c.setPhaseLocked(v, kube.PhaseStopping)
	c.emitLocked(kube.EventModified, v)
	c.replanLocked(v, kube.PhaseStarting, kube.PhaseRunning)
	return c.commitLocked()
}

// DeleteVM implements kube.Provider. A running VM passes through Stopping
// before it disappears, as its VMI is torn down; deleting a VM that is
// already terminating is accepted, like a repeated Kubernetes DELETE.
func (c *Cluster) DeleteVM(ctx context.Context, ref kube.VMRef) error {
	v, err := c.lookup(ctx, OpDeleteVM, ref)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if v.deleting {
		return c.commitLocked()
	}
	v.deleting = true
	if v.status.Phase == kube.PhaseStopped {
		c.removeLocked(v)
		return c.commitLocked()
	}
	c.setPhaseLocked(v, kube.PhaseStopping)
	v.status.Message = msgTerminating
	c.emitLocked(kube.EventModified, v)
	c.replanLocked(v) // empty plan: next step removes it
	return c.commitLocked()
}

// msgTerminating is the status message of a VM whose deletion is under way,
// like kubectl's "Terminating", so the portal can say why it is stopping.
const msgTerminating = "Terminating"

// setRunningLocked records the desired run strategy.
func (c *Cluster) setRunningLocked(v *vm, running bool) {
	if v.spec.Running != running {
		v.spec.Running = running
		c.dirty = true
	}
}

// GetVM implements kube.Provider.
func (c *Cluster) GetVM(ctx context.Context, ref kube.VMRef) (kube.VMStatus, error) {
	v, err := c.lookup(ctx, OpGetVM, ref)
	if err != nil {
		return kube.VMStatus{}, err
	}
	defer c.mu.Unlock()
	return c.statusLocked(v), nil
}

// ListVMs implements kube.Provider, sorted by namespace then name.
func (c *Cluster) ListVMs(ctx context.Context, namespace string) ([]kube.VMStatus, error) {
	if err := c.enter(ctx, OpListVMs); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	out := make([]kube.VMStatus, 0, len(c.vms))
	for ref, v := range c.vms {
		if namespace == "" || ref.Namespace == namespace {
			out = append(out, c.statusLocked(v))
		}
	}
	slices.SortFunc(out, func(a, b kube.VMStatus) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
	return out, nil
}

// Capabilities implements kube.Provider.
func (c *Cluster) Capabilities(ctx context.Context) (kube.Capabilities, error) {
	if err := c.enter(ctx, OpCapabilities); err != nil {
		return kube.Capabilities{}, err
	}
	defer c.mu.Unlock()
	caps := c.opts.Capabilities
	caps.GPUDevices = slices.Clone(caps.GPUDevices)
	caps.Hugepages = slices.Clone(caps.Hugepages)
	caps.StorageClasses = slices.Clone(caps.StorageClasses)
	return caps, nil
}

// Health implements kube.Provider.
func (c *Cluster) Health(ctx context.Context) error {
	if err := c.enter(ctx, OpHealth); err != nil {
		return err
	}
	defer c.mu.Unlock()
	if c.unhealthy {
		return kube.NewRetryable(kube.CodeClusterUnhealthy, "simulated cluster is unhealthy")
	}
	return nil
}

// lookup is enter plus a VM lookup; on success c.mu is held.
func (c *Cluster) lookup(ctx context.Context, op string, ref kube.VMRef) (*vm, error) {
	if err := kube.ValidateRef(ref); err != nil {
		return nil, err
	}
	if err := c.enter(ctx, op); err != nil {
		return nil, err
	}
	v, ok := c.vms[ref]
	if !ok {
		c.mu.Unlock()
		return nil, kube.NewVMNotFound(ref)
	}
	return v, nil
}

// errTerminating mirrors KubeVirt refusing power operations on a VM that is
// being deleted; retrying cannot succeed.
func errTerminating(ref kube.VMRef) error {
	return kube.NewPermanent(kube.CodeConflict, "virtual machine "+ref.String()+" is being deleted")
}

// statusLocked is v's status as callers see it: a copy carrying its own
// copy of the labels, so no caller can alter the cluster or another caller.
func (c *Cluster) statusLocked(v *vm) kube.VMStatus {
	st := v.status
	st.Labels = maps.Clone(v.spec.Labels)
	return st
}

func cloneSpec(s kube.VMSpec) kube.VMSpec {
	s.Labels = maps.Clone(s.Labels)
	s.Annotations = maps.Clone(s.Annotations)
	s.GPUs = slices.Clone(s.GPUs)
	s.Overrides = maps.Clone(s.Overrides)
	return s
}
