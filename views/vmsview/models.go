// Package vmsview renders the VM list and the VM page with its live status block.
package vmsview

// Live is the VM page's self-updating block: observed status, the current or last
// operation's timeline, requests waiting for approval, and the actions the user may take.
// While Poll is set the block asks for itself again every two seconds; a terminal state
// comes back without the trigger, so polling stops by itself.
type Live struct {
	ID, Name, Env, Status, StatusMessage string
	IP, Node, Namespace, Cluster, Synced string
	Missing                              bool // the VirtualMachine is gone from the cluster
	Poll                                 bool
	Op                                   *Operation
	Pending                              []PendingOp
	Actions                              Actions
	CSRF                                 string
	// OOB also refreshes the status badge in the page header (fragment responses only).
	OOB bool
}

// Operation is the VM's current or last operation.
type Operation struct {
	Title, Status, URL, By, ErrorMessage, Hint string
	Steps                                      []Step
}

// Step is one line of an operation's timeline; State is done, running, failed or pending.
type Step struct {
	Label, State, When, Message string
}

// PendingOp is a request about the VM that waits for an approver.
type PendingOp struct {
	Title, URL, By, Age string
}

// Actions are the power and delete controls, with the errors of the last attempt.
type Actions struct {
	Power []PowerButton
	// Reason is required for operations that need an approval (prod).
	PowerNeedsReason bool
	PowerReason      string
	PowerErrors      map[string]string
	PowerError       string
	// Busy explains why no action is offered right now (an operation is in flight).
	Busy          string
	CanDelete     bool
	DeleteByName  bool // prod: type the VM's name; test: tick a box
	DeleteReason  string
	ConfirmName   string
	DeleteErrors  map[string]string
	DeleteError   string
	DeleteOpen    bool
	DeleteBlocked string // why deletion is not possible in this state
	// Console labels the link to the VM's console ("" when it is not offered).
	Console string
}

// PowerButton is one allowed power operation.
type PowerButton struct {
	Op, Label     string
	NeedsApproval bool
	Danger        bool
}
