// Package requestsview renders the VM request form, "My requests" and request pages.
package requestsview

import (
	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/views"
)

// Form is the VM request form with its choices, the user's input and errors.
type Form struct {
	Services   []views.Option
	Namespaces []views.Option
	Templates  []views.Option
	Sizes      []views.Option
	Size       *SizeCard
	DiskGB     string
	Reason     string
	Count      string // how many identical VMs (a batch when more than one)
	MaxCount   int
	Errors     map[string]string
	FormError  string
	NoServices bool
}

// SizeCard describes the chosen size next to the form.
type SizeCard struct {
	Name, Label, CPU, Memory  string
	GPU                       string // device names, "" when none
	Dedicated                 bool
	Hugepages                 string
	DiskMin, DiskMax, DiskDef int
}

// Row is one ticket in a list.
type Row struct {
	ID, ShortID, Type, Target, Namespace, Env, Status, Requester, Age, Created, Updated string
	AgeClass                                                                            string
	Size                                                                                string
	// Duration is what a console access request asks for ("1 hour"), "" for others.
	Duration string
	// DecidedAgo ("3 minutes ago"), DecidedAt (timestamp) and Waited ("2 minutes") describe
	// the decision of a decided request; "" while it waits.
	DecidedAgo, DecidedAt, Waited string
	// Batch describes a row standing for a batch request ("3 new VMs"); Link is then the
	// batch's page. Both are "" for single requests.
	Batch, Link string
}

// List is "My requests".
type List struct {
	Rows   []Row
	Pager  views.Pager
	Status string
	Type   string
}

// ConsoleAccess is what a console access request asks for and what it was granted.
type ConsoleAccess struct {
	Requested string // "1 hour"
	Granted   string // "until 14:05 UTC (30 minutes)", "" before approval
	State     string // active | revoked | ended, "" before approval
	// CanOpen offers the console link: the grant holds and the viewer is its holder.
	CanOpen    bool
	ConsoleURL string
}

// Step is one entry of a request's timeline.
type Step struct {
	Title, Detail, When string
	State               string // done, current, failed, pending
	Hint                string // what an admin can do about a failed step
}

// Detail is one request's page.
type Detail struct {
	Row
	// BatchLink is the page of the batch request this one is part of ("" for single
	// requests); BatchWords names it ("Part of a request for 3 VMs").
	BatchLink, BatchWords string
	Reason                string
	DiskGB                int
	Template              string
	DecisionReason        string
	Approver              string
	// AutoPolicy names the auto-approval policy version that approved the request
	// ("policy NAME (vN)"); AutoNote says why a matching policy left it to a person.
	AutoPolicy   string
	AutoNote     string
	VMName       string
	VMID         string
	Cluster      string
	StorageClass string
	Final        string
	Steps        []Step
	CanCancel    bool
	CanDecide    bool
	ErrorMessage string
	// Operation tickets (start, stop, restart, delete) concern an existing VM.
	IsCreate bool
	VMStatus string
	// Console is set for console access requests.
	Console *ConsoleAccess
	// Poll keeps the status and timeline updating while the ticket is queued or executing.
	Poll bool
	// OOB also refreshes the header's status badge (fragment responses only).
	OOB bool
	// VMURL links the VM once it exists and the viewer may read it; ServiceURL links the
	// Service of a VM request for its members.
	VMURL, ServiceURL string
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// pollAttrs make the timeline re-fetch itself whenever the ticket changes (pushed by
// /events through static/js/live.js; see vmsview.LiveTrigger).
func pollAttrs(d Detail) templ.Attributes {
	return templ.Attributes{"data-live": "ticket:" + d.ID, "data-hx-get": "/requests/" + d.ID + "/status", "data-hx-trigger": "shepherd-live",
		"data-hx-swap": "outerHTML", "data-hx-sync": "this:queue last"}
}

// Batch is the page of a batch request.
type Batch struct {
	ID, ShortID, Status               string
	Requester, Target, Namespace, Env string
	Size, Template, Reason            string
	Submitted, Created                string
	DiskGB, Count                     int
	Summary                           string // "2 done, 1 failed"
	Children                          []BatchChild
	Failed, Pending                   int
	CanRetry                          bool
	DecideURL                         string // the batch approval page, for who may decide
	FormError                         string // why a retry was refused
}

// BatchChild is one VM of a batch.
type BatchChild struct {
	N                       int
	TicketID, Status, Error string
	Link                    string // its request page, or its approval page for who may decide it
	VMName, VMURL, VMStatus string // "" until approved
}
