// Package adminview renders the admin catalogues: namespaces, clusters, instance sizes
// and templates. Components take the view models below, never database rows.
package adminview

import (
	"strconv"

	"kv-shepherd.io/shepherd/views"
)

// Nav is the admin area's tab bar; only catalogues the user may manage appear.
type Nav struct {
	Tabs   []Tab
	Active string
	CSRF   string // for the small action forms (enable, disable, publish, ...)
}

// Tab is one catalogue link.
type Tab struct{ Key, Label, Href string }

// Home is the admin overview.
type Home struct{ Cards []Card }

// Card summarises one catalogue on the overview.
type Card struct {
	Key, Title, Href, Description string
	Count                         int
	Detail                        string // e.g. "2 enabled"
}

// Errors are field problems keyed by form field name.
type Errors map[string]string

// NamespaceList is the namespaces page.
type NamespaceList struct {
	Rows        []NamespaceRow
	Environment string // current filter, "" for all
	Pager       views.Pager
	ReturnTo    string // this page with its filters, for the action forms
}

// NamespaceRow is one namespace in the list.
type NamespaceRow struct {
	ID, Name, Environment, Description string
	Enabled                            bool
	Created, CreatedAgo                string
}

// NamespaceForm is the create and edit form (only the description is editable).
type NamespaceForm struct {
	ID                             string // empty when creating
	Name, Environment, Description string
	Enabled                        bool
	Errors                         Errors
	Message                        string // a problem that belongs to no field
}

// SizeList is the instance sizes page.
type SizeList struct{ Rows []SizeRow }

// SizeRow is one size in the list.
type SizeRow struct {
	ID, Name, DisplayName string
	CPU, Memory           string
	CPURequest, CPULimit  string
	MemRequest, MemLimit  string
	Overcommit            bool
	GPU, Hugepages        string
	DedicatedCPU          bool
	Disk                  string
	Enabled               bool
	// Overrides are the size's spec overrides as path = value lines, sorted by path.
	Overrides []Override
}

// SizeForm is the create and edit form of a size, values as typed.
type SizeForm struct {
	ID                             string
	Name, DisplayName, Description string
	CPUCores, MemoryGiB            string
	CPUOvercommit                  bool
	CPURequest                     string
	MemOvercommit                  bool
	MemRequestGiB                  string
	DedicatedCPU                   bool
	Hugepages                      string
	GPUs                           []GPURow
	DiskDefault, DiskMin, DiskMax  string
	Enabled                        bool
	SortOrder                      string
	// SpecOverrides is the JSON object as typed (or the stored one, indented).
	SpecOverrides string
	// DryRunClusters offer where "Test on cluster" may run; DryRunCluster is the chosen id.
	DryRunClusters []views.Option
	DryRunCluster  string
	Errors         Errors
	Message        string
}

// GPURow is one GPU device row of the size form.
type GPURow struct{ Name, DeviceName string }

// TemplateList is the templates page, one group per name.
type TemplateList struct {
	Groups       []TemplateGroup
	ShowArchived bool
}

// TemplateGroup is a template name with its versions, newest first.
type TemplateGroup struct {
	Name, DisplayName, Category, Source string
	LatestID                            string
	Versions                            []VersionChip
}

// VersionChip links to one version and shows its status.
type VersionChip struct {
	ID      string
	Version int
	Status  string
	Current bool
}

// TemplateForm is the create and edit form of a template version.
type TemplateForm struct {
	ID                          string
	Name, DisplayName, Category string
	Description                 string
	SourceType, Image           string
	PVCNamespace, PVCName       string
	CloudInit                   string
	Errors                      Errors
	Warnings                    []string
	Message                     string
}

// TemplateDetail is one version: an edit form for drafts, read-only otherwise.
type TemplateDetail struct {
	ID, Name, Status          string
	Version                   int
	Form                      TemplateForm
	Versions                  []VersionChip
	Created, CreatedTitle     string
	Editable                  bool
	CanPublish, CanDeprecate  bool
	CanArchive, CanNewVersion bool
}

func itoa(n int) string { return strconv.Itoa(n) }

func field(name, label, value string, errs Errors) views.Field {
	return views.Field{Name: name, Label: label, Value: value, Error: errs[name]}
}

func envOptions(selected string, withAll bool) []views.Option {
	var out []views.Option
	if withAll {
		out = append(out, views.Option{Value: "", Label: "All environments", Selected: selected == ""})
	} else {
		out = append(out, views.Option{Value: "", Label: "Choose…", Selected: selected == "", Disabled: true})
	}
	for _, e := range []string{"test", "prod"} {
		out = append(out, views.Option{Value: e, Label: e, Selected: selected == e})
	}
	return out
}

func enabledLabel(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// Consoles is the console access page: live sessions and prod grants still running.
type Consoles struct {
	Sessions []ConsoleSessionRow
	Grants   []ConsoleGrantRow
}

// ConsoleSessionRow is one open console.
type ConsoleSessionRow struct {
	ID, User, VMName, VMURL, Environment string
	Since, SinceTitle                    string // "5 minutes ago", the exact time
	Ends                                 string // "14:05 UTC"
	ClientIP, Replica                    string
	// Ending: already revoked; the replica holding it closes it within a second.
	Ending bool
}

// ConsoleGrantRow is one prod grant that has not ended.
type ConsoleGrantRow struct {
	ID, User, VMName, VMURL, Environment, GrantedBy string
	Expires, ExpiresTitle                           string // "14:05 UTC", "in 25 minutes"
	RequestURL                                      string
}

// formProblems is the error summary of an admin form: its message first, then the fields.
func formProblems(errs Errors, message string, order []string) []views.Problem {
	var out []views.Problem
	if message != "" {
		out = append(out, views.Problem{Message: message})
	}
	return append(out, views.Problems(errs, order...)...)
}
