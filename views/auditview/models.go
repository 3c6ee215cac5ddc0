// Package auditview renders the audit log viewer.
package auditview

import (
	"strconv"
	"time"

	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/views"
)

// Page is GET /admin/audit.
type Page struct {
	Form          Form
	Rows          []Row
	Pager         views.Pager
	Capped        bool // more rows match than were counted
	ActorByName   bool // the actor filter names no account; matched by recorded name
	Filtered      bool
	Actions       []string // suggestions for the action filter
	ResourceTypes []string // suggestions for the resource type filter
	ExportURL     string
	// StreamURLs export every matching record (JSON Lines, CSV), not one page.
	StreamURLs []Link
	ResetURL   string
}

// Form is the filter form as submitted, with an error per field name.
type Form struct {
	Action, Actor, ResourceType, ResourceID, Environment, From, To string
	Errors                                                         map[string]string
}

// Row is one audit record.
type Row struct {
	At           time.Time
	Actor        string
	ActorURL     string // filter by this actor; empty when there is no actor
	Anonymous    bool   // no authenticated actor (failed sign-in, system)
	Action       string
	ActionURL    string
	ResourceType string
	ResourceName string
	ResourceID   string
	ResourceURL  string // the resource's history
	PageURL      string // the resource's page, while it exists (VMs, requests, Systems, Services)
	Parent       string // "type id" of the parent, when any
	Environment  string
	IP           string
	RequestID    string
	Details      []Detail
	DetailsJSON  string // complete (already redacted) details, when the compact form was cut
}

// Detail is one key=value of the compact details column.
type Detail struct {
	Key, Value string
}

func (f Form) field(name, label, value, typ, hint string) views.Field {
	return views.Field{Name: name, Label: label, Value: value, Type: typ, Hint: hint, Error: f.Errors[name]}
}

func (p Page) summary() string {
	if p.Capped {
		return "More than " + strconv.Itoa(p.Pager.Total) + " records match; showing the newest. Narrow the filters to reach older ones."
	}
	return ""
}

func envOptions(current string) []views.Option {
	opts := []views.Option{{Value: "", Label: "Any"}}
	for _, e := range []string{"test", "prod"} {
		opts = append(opts, views.Option{Value: e, Label: e, Selected: e == current})
	}
	return opts
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func withList(f views.Field, list string) views.Field {
	f.Attrs = templ.Attributes{"list": list, "autocomplete": "off"}
	return f
}

func resourceLabel(r Row) string {
	if r.ResourceName != "" {
		return r.ResourceName
	}
	return r.ResourceID
}

func shortTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// Link is a labelled URL.
type Link struct{ Label, URL string }

func streamLabel(format string) string {
	if format == "jsonl" {
		return "JSON Lines"
	}
	return "CSV"
}

// Archives is GET /admin/audit/archives: what the retention job moved out of the log.
type Archives struct {
	Rows    []ArchiveRow
	Pager   views.Pager
	Policy  []string // one sentence per retention rule
	Enabled bool     // the retention job runs (SHEPHERD_AUDIT_RETENTION)
}

// ArchiveRow is one archive.
type ArchiveRow struct {
	Span, Classes, Size, SHA256 string
	Rows                        int
	Made, MadeTitle             string
	DownloadURL, Name           string
}
