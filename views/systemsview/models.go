// Package systemsview holds the pages of the Systems and Services area. Components take
// the view models below; handlers in web/systems fill them from use-case results.
package systemsview

import (
	"strconv"
	"time"

	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/history"
)

// ListPage is the Systems list.
type ListPage struct {
	Query     string
	Rows      []SystemRow
	Pager     views.Pager
	CanCreate bool
	IsAdmin   bool
}

// SystemRow is one line of the Systems list.
type SystemRow struct {
	URL, Name, Excerpt, MyRole, CreatedBy string
	Services                              int
	CreatedAt                             time.Time
}

// SystemForm is the create-System form with the person's input and errors.
type SystemForm struct {
	Name, Description string
	Errors            map[string]string
}

// Rights are the actions a detail page offers.
type Rights struct {
	Edit, Delete, CreateService, ManageMembers, RequestVM bool
}

// RoleCount is one role of the members summary.
type RoleCount struct {
	Role  string
	Count int
}

// SystemPage is a System's detail page.
type SystemPage struct {
	ID, Name, URL   string
	DescriptionHTML string // sanitized by internal/markdown
	CreatedBy       string
	CreatedAt       time.Time
	MyRole          string
	Rights          Rights
	History         bool // the history tab is shown instead of the overview
	Services        []ServiceRow
	ServicesPager   views.Pager
	Owner           string
	Roles           []RoleCount
	MembersTotal    int
	HistoryRows     []history.Row
	HistoryPager    views.Pager
	Delete          DeleteForm
}

// DeleteForm is the danger zone: open with an error after a refused delete.
type DeleteForm struct {
	Open        bool
	ConfirmName string
	Error       string
}

// ServiceRow is one Service in a System's table.
type ServiceRow struct {
	URL, Name, Excerpt string
	VMs                int
	VMsCapped          bool // the Service has more than VMs (counting stops there)
	CreatedAt          time.Time
}

// DescriptionForm edits the Markdown description of a System or Service.
type DescriptionForm struct {
	Kind        string // "System" or "Service"
	Name        string
	Action      string
	BackURL     string
	Description string
	Error       string
}

// MembersPage is a System's member management.
type MembersPage struct {
	SystemName, SystemURL, BaseURL string
	Members                        []MemberRow
	Roles                          []views.Option
	CanTransfer                    bool
	Transfer                       []views.Option // members who can become owner
	Errors                         map[string]string
	Error                          string // a refusal that is not about one field
	AddRole                        string
}

// MemberRow is one member.
type MemberRow struct {
	UserID, Name, Username, Email, Role, GrantedBy string
	Since                                          time.Time
	Editable                                       bool
}

// Candidate is a person offered by the member search.
type Candidate struct {
	ID, Label string
}

// ServiceForm is the create-Service form.
type ServiceForm struct {
	Systems           []views.Option
	Name, Description string
	Errors            map[string]string
}

// ServicePage is a Service's detail page.
type ServicePage struct {
	ID, Name, URL   string
	SystemName      string
	SystemURL       string
	DescriptionHTML string
	CreatedAt       time.Time
	Rights          Rights
	History         bool
	VMs             []VMRow
	VMsPager        views.Pager
	VMsHidden       bool
	HistoryRows     []history.Row
	HistoryPager    views.Pager
	DeleteError     string
	DeleteOpen      bool
}

// VMRow is one VM of a Service.
type VMRow struct {
	ID, Name, Namespace, Environment, Status, Size string
	CreatedAt                                      time.Time
}

// NameCheck is the live verdict under a name field. Message and Warning carry their
// spec code already; Code is empty when the name is acceptable.
type NameCheck struct {
	Field         string // the input's name, for the help element's id
	Length, Max   int
	Code, Message string
	Warning, Hint string
}

// NameHint is shown under an empty or acceptable name.
const NameHint = "Up to 15 characters: lower-case letters, digits and single hyphens; start with a letter. 12 or fewer is best."

func counter(n, max int) string { return strconv.Itoa(n) + "/" + strconv.Itoa(max) }

func itoa(n int) string { return strconv.Itoa(n) }

// includeAttr adds hx-include only when the check needs another field (the Service
// form's System); an empty hx-include is not a valid selector.
func includeAttr(sel string) templ.Attributes {
	if sel == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"data-hx-include": sel}
}

// invalid marks a control with an error. Valid controls carry no aria-invalid at all:
// Pico paints aria-invalid="false" green, which reads as "checked and fine" before any check.
func invalid(err string) templ.Attributes {
	if err != "" {
		return templ.Attributes{"aria-invalid": "true"}
	}
	return templ.Attributes{}
}

// nameCheckFor is the help line of a name field as first rendered: the counter, and the
// server's error after a refused submit.
func nameCheckFor(field, value, err string) NameCheck {
	c := NameCheck{Field: field, Length: len(value), Max: domain.NameMaxLength, Hint: NameHint}
	if err != "" {
		c.Code, c.Message = "error", err
	}
	return c
}

func selectRole(opts []views.Option, chosen string) []views.Option {
	out := make([]views.Option, len(opts))
	for i, o := range opts {
		o.Selected = o.Value == chosen
		out[i] = o
	}
	return out
}
