package views

import (
	"fmt"
	"net/url"
	"strconv"
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

// Pager describes one page of a list; links keep the current filters.
type Pager struct {
	Page, PerPage, Total int
	BaseURL              string     // path of the list
	Query                url.Values // current filters (page is replaced)
}

// NewPager describes page p of a list of total rows. A page past the end (a stale or
// hand-edited link) is shown as the last page, which is what the use cases list.
func NewPager(p paging.Page, total int, base string, q url.Values) Pager {
	p = p.Within(total)
	return Pager{Page: p.Number, PerPage: p.PerPage, Total: total, BaseURL: base, Query: q}
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
func (p Pager) HasPrev() bool { return p.Page > 1 }
func (p Pager) HasNext() bool { return p.Page < p.Pages() }

// URL links to page n with the same filters.
func (p Pager) URL(n int) string {
	q := url.Values{}
	for k, v := range p.Query {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(n))
	if p.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(p.PerPage))
	}
	return p.BaseURL + "?" + q.Encode()
}

// Summary is "41–60 of 123".
func (p Pager) Summary() string {
	if p.Total == 0 {
		return "No results"
	}
	from := (p.Page-1)*p.PerPage + 1
	to := from + p.PerPage - 1
	if to > p.Total {
		to = p.Total
	}
	return fmt.Sprintf("%d–%d of %d", from, to, p.Total)
}

// StatusClass maps a status to its badge colour (spec/flows.md §10).
func StatusClass(status string) string {
	switch status {
	case "PENDING_APPROVAL", "PENDING":
		return "badge status-pending"
	case "APPROVED", "EXECUTING", "PROCESSING", "CREATING", "STARTING", "STOPPING", "RESTARTING", "DELETING":
		return "badge status-progress"
	case "SUCCESS", "COMPLETED", "RUNNING", "HEALTHY", "active", "enabled":
		return "badge status-ok"
	case "REJECTED", "FAILED", "UNHEALTHY", "UNREACHABLE":
		return "badge status-bad"
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
