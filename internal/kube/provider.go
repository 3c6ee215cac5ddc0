// Package kube is Shepherd's boundary with Kubernetes/KubeVirt clusters.
//
// Everything above this package talks to a Provider using the plain domain
// types declared here, never KubeVirt API types (spec §8.1, anti-corruption
// layer). Two implementations exist: the real KubeVirt one and the in-process
// simulator in ./sim. Both must pass ./conformance so the simulator cannot
// drift from the real cluster's observable behaviour.
package kube

import (
	"context"
	"fmt"
	"net"
)

// FieldManager is the server-side-apply field owner used for every object
// Shepherd writes (spec §8.2). Shared here so renderer and provider agree.
const FieldManager = "kubevirt-shepherd"

// VMRef identifies a VirtualMachine on one cluster.
type VMRef struct {
	Namespace, Name string
}

func (r VMRef) String() string { return r.Namespace + "/" + r.Name }

// GPU is one passthrough/vGPU device request.
type GPU struct {
	Name       string // device name inside the VM (e.g. "gpu1")
	DeviceName string // resource name exposed by the device plugin
}

// VMSpec is what Shepherd renders for a VM. All values are already final
// (template + size + approver overrides resolved); providers must not
// apply defaults of their own beyond what the renderer does.
type VMSpec struct {
	Ref         VMRef
	Labels      map[string]string
	Annotations map[string]string

	CPUCores      int
	CPURequest    string // k8s quantity, "" = unset
	CPULimit      string
	MemoryRequest string
	MemoryLimit   string
	DedicatedCPU  bool
	HugepagesSize string // "2Mi" / "1Gi", "" = none
	GPUs          []GPU

	DiskGB       int
	StorageClass string
	Image        string // containerdisk image, or "" when the root disk is a PVC/DataVolume
	PVCNamespace string // source PVC to clone for the DataVolume, "" = blank disk
	PVCName      string
	CloudInit    string // cloud-init NoCloud user data, "" = none

	Running bool // run strategy: Always (true) vs Halted (false)

	// Overrides are the instance size's spec_overrides: dotted JSON paths under
	// spec.template.spec. set on the rendered VirtualMachine (see ApplyOverrides).
	Overrides map[string]any
}

// Phase is Shepherd's coarse view of a VM's power state.
type Phase string

// Phases. They mirror KubeVirt's printable status, collapsed to what the
// portal shows and what the workers wait for.
const (
	PhasePending  Phase = "Pending"
	PhaseStarting Phase = "Starting"
	PhaseRunning  Phase = "Running"
	PhaseStopping Phase = "Stopping"
	PhaseStopped  Phase = "Stopped"
	PhaseFailed   Phase = "Failed"
	PhaseUnknown  Phase = "Unknown"
)

// VMStatus is the observed state of a VM. Exists is false for a ghost (DB
// record whose cluster object is gone) so status sync can set k8s_exists.
type VMStatus struct {
	Ref     VMRef
	UID     string
	Phase   Phase
	Ready   bool
	IP      string
	Node    string
	Message string
	Exists  bool
	// Labels of the VirtualMachine object; the reconciler reads Shepherd's
	// kubevirt-shepherd.io/* labels from them to find orphans.
	Labels map[string]string
}

// Capabilities is what a cluster can do, detected at health-check time.
type Capabilities struct {
	KubernetesVersion   string // the API server's gitVersion, e.g. v1.37.2
	KubeVirtVersion     string
	GPUDevices          []string
	Hugepages           []string
	StorageClasses      []string
	DefaultStorageClass string
	DedicatedCPU        bool
	// SRIOVNetworks are the SR-IOV resource names nodes advertise (from the
	// SR-IOV device plugin); empty when the cluster has none.
	SRIOVNetworks []string
}

// Event types delivered by Provider.Watch.
const (
	EventAdded    = "ADDED"
	EventModified = "MODIFIED"
	EventDeleted  = "DELETED"
)

// Event is one VM change seen by a watch.
type Event struct {
	Type   string // EventAdded | EventModified | EventDeleted
	Status VMStatus
}

// Provider is one cluster. Methods return *Error (see errors.go) so callers
// can decide between retry, fail-fast and not-found without inspecting
// Kubernetes error types.
type Provider interface {
	// EnsureNamespace creates the namespace if missing; AlreadyExists is success.
	EnsureNamespace(ctx context.Context, name string, labels map[string]string) (created bool, err error)
	// ApplyVM has server-side-apply semantics: idempotent, the same spec
	// twice yields one VM with an unchanged UID.
	ApplyVM(ctx context.Context, spec VMSpec) (VMStatus, error)
	StartVM(ctx context.Context, ref VMRef) error
	StopVM(ctx context.Context, ref VMRef) error
	RestartVM(ctx context.Context, ref VMRef) error
	// DeleteVM returns a NotFound error when the VM is absent.
	DeleteVM(ctx context.Context, ref VMRef) error
	GetVM(ctx context.Context, ref VMRef) (VMStatus, error)
	// ListVMs lists one namespace, or all namespaces when namespace is "".
	ListVMs(ctx context.Context, namespace string) ([]VMStatus, error)
	// Watch streams VM events. The channel is closed when ctx ends or the
	// watch drops; the caller re-lists and re-watches (spec §8.4).
	Watch(ctx context.Context) (<-chan Event, error)
	Capabilities(ctx context.Context) (Capabilities, error)
	Health(ctx context.Context) error
	// OpenConsole opens the VM's VNC byte stream (RFB, as KubeVirt's vnc
	// subresource serves it). A VM that is not running gives a Permanent
	// CodeVMNotRunning error; a console someone else holds, with
	// PreserveSession, a Permanent CodeConsoleInUse error. Closing the
	// connection ends the session.
	OpenConsole(ctx context.Context, ref VMRef, opts ConsoleOptions) (net.Conn, error)
}

// ConsoleOptions shape a console connection.
type ConsoleOptions struct {
	// PreserveSession keeps a session another viewer holds and refuses this one;
	// false takes the console over, disconnecting the other viewer (KubeVirt's
	// preserveSession query parameter).
	PreserveSession bool
}

// Faults is implemented by test providers that can inject failures; the
// conformance suite uses it when available and skips those checks otherwise.
type Faults interface {
	// FailNext makes the next call of operation op (a Provider method name,
	// e.g. "ApplyVM") return err. One-shot.
	FailNext(op string, err error)
}

// ValidateRef rejects refs that no cluster would accept, before any I/O.
func ValidateRef(ref VMRef) error {
	if ref.Namespace == "" || ref.Name == "" {
		return &Error{Kind: Permanent, Code: CodeValidationFailed,
			Message: fmt.Sprintf("vm ref %q: namespace and name are required", ref.String())}
	}
	return nil
}
