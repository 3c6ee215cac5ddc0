package adminview

import (
	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/views"
)

// PolicyList is the auto-approval policies page.
type PolicyList struct {
	Rows []PolicyRow
	// AllOff is the global kill switch: while set no policy approves anything.
	AllOff    bool
	ChangedBy string
}

// PolicyRow is one policy (its current version) in the list.
type PolicyRow struct {
	ID, Name     string
	Version      int
	Priority     int
	Enabled      bool
	Environments string
	// ProdState is "" (test only), "Confirmed by NAME" or "Needs a second admin's confirmation".
	ProdState string
	Warnings  []string
	Author    string
	Updated   string
}

// PolicyForm is the new/edit policy form; Options carry the selection state.
type PolicyForm struct {
	ID                    string // policy id; "" for a new policy
	Version               int    // the current version being edited
	Name                  string
	Description           string
	Priority              string
	Environments          []views.Option
	Namespaces            []views.Option
	Systems               []views.Option
	Services              []views.Option
	Sizes                 []views.Option
	Templates             []views.Option
	Roles                 []views.Option
	StandardSizesOnly     bool
	MaxDiskGB             string
	MaxPerRequesterPerDay string
	MaxPerSystemPerDay    string
	Errors                Errors
	Message               string
	// DryRun is set after "Dry run" on the form: the unsaved policy's replay.
	DryRun *PolicyDryRun
}

// PolicyPage is one policy: its current version, conditions, actions, versions and dry run.
type PolicyPage struct {
	ID, Name, Description string
	Version               int
	Priority              int
	Enabled               bool
	Conditions            []Fact
	Prod                  bool
	ProdConfirmedBy       string
	Author                string
	Warnings              []string
	Versions              []PolicyVersion
	DryRun                PolicyDryRun
}

// Fact is one labelled line of a description list.
type Fact struct{ Label, Value string }

// PolicyVersion is one version in the policy's history.
type PolicyVersion struct {
	Version int
	Author  string
	Created string
	Current bool
}

// PolicyDryRun is a policy replayed over the latest decided VM create requests.
type PolicyDryRun struct {
	Rows     []PolicyDryRunRow
	Matches  int
	Warnings []string
}

// PolicyDryRunRow is one past request: what people decided, what the policy would do.
type PolicyDryRunRow struct {
	TicketID, Target, Requester, Environment string
	Spec                                     string // "small, ubuntu-24.04, 80 GB"
	Decided                                  string
	Status                                   string // ticket status code (labelled in the view)
	Decision                                 string // "by bob: too big"
	WouldApprove                             bool
	Why                                      string
}

func policyField(name, label, value, hint string, errs Errors) views.Field {
	return views.Field{Name: name, Label: label, Value: value, Hint: hint, Error: errs[name]}
}

func multiple(size int) templ.Attributes {
	return templ.Attributes{"multiple": true, "size": itoa(size)}
}

// multiField is a multiple-choice select; none chosen means "any".
func multiField(name, label, hint string, errs Errors, size int) views.Field {
	return views.Field{Name: name, Label: label, Hint: hint, Error: errs[name], Attrs: multiple(size)}
}
