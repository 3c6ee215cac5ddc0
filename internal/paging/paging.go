// Package paging is the one model of a page of a list, shared by the use cases and the
// web layer: a 1-based page number and a page size, both clamped, and the offset.
package paging

import "math"

// The list conventions of spec/flows.md §4 and §6.3: 20 rows a page, at most 100.
// Lists with other sizes (the audit export) pass their own default and maximum.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// MaxPage bounds page numbers. With the largest page size any list allows (1000 rows, the
// audit export) the deepest offset is (MaxPage-1)*1000 = 99,999,000: well inside int32,
// so an OFFSET can never overflow into a negative number whatever the query string says.
// Lists that know their total show the last page instead of anything past it (Within).
const MaxPage = 100_000

// Page is one page of a list: Number is 1-based, PerPage the rows on it.
type Page struct{ Number, PerPage int }

// New returns the page number and size clamped (see Normalize).
func New(number, perPage, defaultPer, maxPer int) Page {
	return Page{Number: number, PerPage: perPage}.Normalize(defaultPer, maxPer)
}

// Normalize clamps Number to 1..MaxPage and PerPage to 1..maxPer; a PerPage below 1
// (unset, zero, negative) becomes defaultPer.
func (p Page) Normalize(defaultPer, maxPer int) Page {
	maxPer = max(maxPer, 1)
	defaultPer = min(max(defaultPer, 1), maxPer)
	p.Number = min(max(p.Number, 1), MaxPage)
	switch {
	case p.PerPage < 1:
		p.PerPage = defaultPer
	case p.PerPage > maxPer:
		p.PerPage = maxPer
	}
	return p
}

// Standard is Normalize with the usual 20 rows, at most 100.
func (p Page) Standard() Page { return p.Normalize(DefaultPerPage, MaxPerPage) }

// Pages is how many pages total rows fill; at least 1, so an empty list has one
// (empty) page.
func (p Page) Pages(total int) int {
	if p.PerPage < 1 || total <= p.PerPage {
		return 1
	}
	return (total-1)/p.PerPage + 1
}

// Within moves a page past the end of total rows back to the last page, so a stale or
// hand-edited link shows the last rows instead of nothing.
func (p Page) Within(total int) Page {
	p.Number = max(min(p.Number, p.Pages(total)), 1)
	return p
}

// Offset is the number of rows before the page. It never overflows into a negative
// number, even for a page that was not normalised.
func (p Page) Offset() int {
	before, per := min(max(p.Number, 1), MaxPage)-1, max(p.PerPage, 0)
	if per > 0 && before > math.MaxInt/per {
		return math.MaxInt
	}
	return before * per
}

// Limit is the number of rows on the page.
func (p Page) Limit() int { return p.PerPage }
