package views

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"kv-shepherd.io/shepherd/internal/paging"
)

// Field is one form input with its label, current value, hint and error.
type Field struct {
	Name, Label, Value, Type, Hint, Error, Placeholder string
	Required                                           bool
	Min, Max                                           string
	Attrs                                              templ.Attributes // e.g. hx-* for live validation
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
	Disabled     bool
}

// Pager describes one page of a list; links keep the current filters. Short lists link
// by page number; a list longer than it counts (Capped), or a page found by keyset, links
// to the first page, the rows before and after the ones shown (after= / before=
// cursors), and the last page (page=last).
type Pager struct {
	Page, PerPage, Total int
	BaseURL              string     // path of the list
	Query                url.Values // current filters (page and cursors are replaced)
	// Capped: the list has more than Total rows (it stops counting there).
	Capped bool
	// Keyed: link by cursor; Shown rows are on the page, First and Last their keysets.
	Keyed            bool
	Shown            int
	First, Last      paging.Cursor
	hasPrev, hasNext bool
}

// NewPager describes page p of a list of total rows. A page past the end (a stale or
// hand-edited link) is shown as the last page, which is what the use cases list.
func NewPager(p paging.Page, total int, base string, q url.Values) Pager {
	p = p.Within(total)
	return Pager{Page: p.Number, PerPage: p.PerPage, Total: total, BaseURL: base, Query: q,
		hasPrev: p.Number > 1, hasNext: p.Number < p.Pages(total)}
}

// NewWindowPager describes the page a use case listed (see paging.Window) with shown rows.
func NewWindowPager(w paging.Window, shown int, base string, q url.Values) Pager {
	return Pager{
		Page:    w.Page.Number,
		PerPage: w.Page.PerPage,
		Total:   w.Total,
		BaseURL: base,
		Query:   q,
		Capped:  w.Capped,
		Keyed:   w.Keyed(),
		Shown:   shown,
		First:   w.First,
		Last:    w.Last,
		hasPrev: w.HasPrev,
		hasNext: w.HasNext,
	}
}

// Pages is the number of pages.
func (p Pager) Pages() int {
	if p.PerPage <= 0 {
		return 1
	}
	n := (p.Total + p.PerPage - 1) / p.PerPage
	if n < 1 {
		return 1
	}
	return n
}

// HasPrev and HasNext drive the pager links.
func (p Pager) HasPrev() bool { return p.hasPrev }
func (p Pager) HasNext() bool { return p.hasNext }

// URL links to page n with the same filters.
func (p Pager) URL(n int) string { return p.link("page", strconv.Itoa(n)) }

// PrevURL and NextURL link to the rows before the first and after the last shown: by
// number on a numbered page of the counted range, by cursor otherwise.
func (p Pager) PrevURL() string {
	if !p.Keyed || (p.Page > 1 && (p.Page-1)*p.PerPage <= paging.MaxOffset) {
		return p.URL(p.Page - 1)
	}
	return p.link("before", p.First.String())
}

func (p Pager) NextURL() string {
	if !p.Keyed {
		return p.URL(p.Page + 1)
	}
	return p.link("after", p.Last.String())
}

// FirstURL and LastURL link to the ends of a keyed list.
func (p Pager) FirstURL() string { return p.URL(1) }
func (p Pager) LastURL() string  { return p.link("page", "last") }

func (p Pager) link(key, value string) string {
	q := url.Values{}
	for k, v := range p.Query {
		switch k {
		case "page", "after", "before":
			continue
		}
		q[k] = v
	}
	q.Set(key, value)
	if p.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(p.PerPage))
	}
	return p.BaseURL + "?" + q.Encode()
}

// Summary is "41–60 of 123", "41–60 of more than 1000" or, on a page found by cursor,
// "20 of more than 1000".
func (p Pager) Summary() string {
	if p.Total == 0 && !p.Capped {
		return "No results"
	}
	of := strconv.Itoa(p.Total)
	if p.Capped {
		of = "more than " + of
	}
	if p.Page == 0 {
		return fmt.Sprintf("%d of %s", p.Shown, of)
	}
	from := (p.Page-1)*p.PerPage + 1
	to := from + p.PerPage - 1
	if to > p.Total && !p.Capped {
		to = p.Total
	}
	if p.Shown > 0 {
		to = from + p.Shown - 1
	}
	return fmt.Sprintf("%d–%d of %s", from, to, of)
}

// StatusClass maps a status to its badge colour (spec/flows.md §10).
func StatusClass(status string) string {
	switch status {
	case "PENDING_APPROVAL", "PENDING":
		return "badge status-pending"
	case "APPROVED", "EXECUTING", "IN_PROGRESS", "PROCESSING", "CREATING", "STARTING", "STOPPING", "RESTARTING", "DELETING":
		return "badge status-progress"
	case "SUCCESS", "COMPLETED", "RUNNING", "HEALTHY", "active", "enabled":
		return "badge status-ok"
	case "REJECTED", "FAILED", "UNHEALTHY", "UNREACHABLE":
		return "badge status-bad"
	case "PARTIAL_SUCCESS":
		return "badge status-warn"
	default:
		return "badge status-neutral"
	}
}

// Ago is a short relative time ("3 days ago").
func Ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	default:
		return plural(int(d.Hours()/24), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// Timestamp is an absolute time for title attributes and tables.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func fieldType(f Field) string {
	if f.Type == "" {
		return "text"
	}
	return f.Type
}

// Itoa formats an int for templates.
func Itoa(n int) string { return strconv.Itoa(n) }

// Problem is one entry of an error summary: a message and the field it is about (empty
// for a problem of the whole form).
type Problem struct {
	Field, Message string
}

// Problems orders a form's field errors for the summary: the fields named in order first
// (the order they appear in the form), then any others by name. An entry "key:field"
// files the error under key against the form field named field.
func Problems(errs map[string]string, order ...string) []Problem {
	if len(errs) == 0 {
		return nil
	}
	out := make([]Problem, 0, len(errs))
	listed := map[string]bool{}
	for _, o := range order {
		key, field, found := strings.Cut(o, ":")
		if !found {
			field = key
		}
		listed[key] = true
		if msg, ok := errs[key]; ok && msg != "" {
			out = append(out, Problem{Field: field, Message: msg})
		}
	}
	var rest []string
	for f, msg := range errs {
		if !listed[f] && msg != "" {
			rest = append(rest, f)
		}
	}
	sort.Strings(rest)
	for _, f := range rest {
		out = append(out, Problem{Field: f, Message: errs[f]})
	}
	return out
}

func problemsTitle(n int) string {
	if n == 1 {
		return "There is a problem"
	}
	return "There are " + itoa(n) + " problems"
}

func formMessage(message string) []Problem {
	if message == "" {
		return nil
	}
	return []Problem{{Message: message}}
}

// trailingCode is an error code a message ends with, as " (NAME_TAKEN)".
var trailingCode = regexp.MustCompile(`\s*\(([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\)$`)

// SplitCode separates the spec's error code from the end of a message: people read the
// words, the code stays in a title attribute (and in the audit log and JSON) for quoting.
func SplitCode(msg string) (text, code string) {
	m := trailingCode.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg, ""
	}
	return msg[:m[0]], msg[m[2]:m[3]]
}

func MessageText(msg string) string {
	t, _ := SplitCode(msg)
	return t
}

// CodeAttr puts a message's code in a title attribute (none without a code).
func CodeAttr(msg string) templ.Attributes {
	if _, c := SplitCode(msg); c != "" {
		return templ.Attributes{"title": c}
	}
	return templ.Attributes{}
}
