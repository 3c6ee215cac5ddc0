// Package approvalsview renders the approver inbox and the approval page.
package approvalsview

import (
	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
)

// Inbox is the approver's queue.
type Inbox struct {
	Rows       []requestsview.Row
	Pager      views.Pager
	Types      []views.Option
	Envs       []views.Option
	Requesters []views.Option
	Ages       []views.Option
	// Decidable holds the ids of rows this approver may decide (checkboxes for batch
	// decisions); own requests and environments without approval rights have none.
	Decidable map[string]bool
	CSRF      string
	MaxBatch  int
	// Reason and Errors refill the batch bar after a refused batch rejection.
	Reason   string
	Errors   map[string]string
	Selected map[string]bool
}

// Batch reports whether any row can be decided in a batch.
func (m Inbox) Batch() bool { return len(m.Decidable) > 0 }

// Decision is the approval form and the effective spec it would produce.
type Decision struct {
	TicketID       string
	Clusters       []views.Option
	StorageClasses []views.Option
	Versions       []views.Option
	DiskGB         string
	DiskMin        int
	DiskMax        int
	Override       bool
	CPURequest     string
	MemRequest     string
	CPULimit       string
	MemLimit       string
	Overcommit     bool
	Warnings       []string
	Errors         map[string]string
	FormError      string
	Blocked        bool
	Preview        []Fact
	Namespace      string
	ServiceID      string
	Reason         string
	Comment        string // the approver's note on an operation approval
	// Batch is how many pending VMs of a batch the decision applies to; 0 for one request.
	Batch int
}

// BatchPage decides a batch request: the batch, its children and one decision for all
// its still-pending children.
type BatchPage struct {
	Batch    requestsview.Batch
	Decision Decision
	CanAct   bool
}

// Fact is one line of the effective-spec preview.
type Fact struct{ Label, Value string }

// Page is the approval page: the request and the decision panel.
type Page struct {
	Request  requestsview.Detail
	Decision Decision
	CanAct   bool
	Decided  bool
	// NextURL leads a decided page on to the next request waiting for this approver (or
	// the inbox); "" for users who may not decide.
	NextURL string
	// Operation is set for start, stop, restart and delete requests.
	Operation *Operation
	// Console is set for console access requests.
	Console *ConsoleRequest
}

// ConsoleRequest is what an approver needs to decide a console access request: whose,
// which VM, for how long, and the lengths the approver may grant.
type ConsoleRequest struct {
	VMName, VMURL, Cluster, State string
	Requested                     string // "1 hour"
	Durations                     []views.Option
	// Warning says the console cannot open now (the VM is not running); it may be
	// granted anyway, to be used once the VM runs.
	Warning string
}

// Operation is what an approver needs to decide a request about an existing VM.
type Operation struct {
	Op, VMName, VMURL, Cluster, State, Resources string
	// Warning says the VM's state no longer allows the operation.
	Warning string
}

func invalidAttr(err string) templ.Attributes {
	if err != "" {
		return templ.Attributes{"aria-invalid": "true"}
	}
	return templ.Attributes{}
}
