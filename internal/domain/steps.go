package domain

// Execution steps a worker records on a ticket (approval_tickets.steps), in order. The
// portal draws the planned steps of a ticket type as a timeline and fills in the ones
// recorded so far.
const (
	StepQueued    = "queued"    // the job is waiting for a worker
	StepNamespace = "namespace" // namespace present on the cluster (created just in time)
	StepApplied   = "applied"   // VirtualMachine applied (server-side apply)
	StepRequested = "requested" // start/stop/restart sent to the cluster
	StepRunning   = "running"   // the VM reports Running
	StepStopped   = "stopped"   // the VM reports Stopped
	StepDeleted   = "deleted"   // the VirtualMachine is gone from the cluster
	// StepConsoleGranted is the one step of a console access request: the grant written
	// with its approval (nothing runs on a cluster).
	StepConsoleGranted = "console_granted"
)

// Step states.
const (
	StepStateRunning = "running"
	StepStateDone    = "done"
	StepStateFailed  = "failed"
)

// PlannedSteps lists the steps a ticket of this type goes through once approved.
func PlannedSteps(ticketType string) []string {
	switch ticketType {
	case "VM_CREATE":
		return []string{StepQueued, StepNamespace, StepApplied, StepRunning}
	case "VM_START", "VM_RESTART":
		return []string{StepQueued, StepRequested, StepRunning}
	case "VM_STOP":
		return []string{StepQueued, StepRequested, StepStopped}
	case "VM_DELETE":
		return []string{StepQueued, StepRequested, StepDeleted}
	case "VNC_ACCESS":
		return []string{StepConsoleGranted}
	}
	return nil
}

// StepLabel is how the portal names a step.
func StepLabel(step string) string {
	switch step {
	case StepQueued:
		return "Queued for a worker"
	case StepNamespace:
		return "Namespace ready"
	case StepApplied:
		return "VirtualMachine applied"
	case StepRequested:
		return "Sent to the cluster"
	case StepRunning:
		return "Running"
	case StepStopped:
		return "Stopped"
	case StepDeleted:
		return "Deleted from the cluster"
	case StepConsoleGranted:
		return "Console access granted"
	}
	return step
}
