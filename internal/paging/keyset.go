package paging

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CountCap bounds how far a list counts its rows. Counting is exact up to the cap (a
// scan of at most CountCap+1 entries, about 0.1 ms); beyond it the list says "more than
// 200" and pages by keyset, so neither the count nor a deep page costs more at a million
// rows than at a thousand. (At 1,000 the count alone took half a millisecond of
// PostgreSQL's CPU on every view of a long list.)
const CountCap = 200

// MaxOffset bounds the OFFSET of a numbered page to the counted range: a deeper ?page=
// link shows the deepest numbered page, whose pager goes on by keyset.
const MaxOffset = CountCap

// Cursor names a row of a list ordered by (created_at, id): the keyset of a page edge.
type Cursor struct {
	At time.Time
	ID uuid.UUID
}

// IsZero reports an unset cursor.
func (c Cursor) IsZero() bool { return c.ID == uuid.Nil }

// String is the cursor in a query string: microseconds since the epoch (PostgreSQL's
// precision), a dot, the row id.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "." + c.ID.String()
}

// ParseCursor reads a cursor; anything malformed is the zero cursor (unset).
func ParseCursor(s string) Cursor {
	at, id, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Cursor{}
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return Cursor{}
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return Cursor{}
	}
	return Cursor{At: time.UnixMicro(us).UTC(), ID: u}
}

// Keyset is where a page starts when it is not found by number: after a row (the next
// page), before a row (the previous page), or at the end of the list (the last page).
type Keyset struct {
	After, Before Cursor
	Last          bool
}

// Active reports whether the page is found by keyset rather than by number.
func (k Keyset) Active() bool { return !k.After.IsZero() || !k.Before.IsZero() || k.Last }

// Window is what a use case found out about the page it listed, for the pager.
type Window struct {
	// Page is the numbered page shown (normalised, moved back within the list); zero
	// Number when the page was found by keyset.
	Page Page
	// Total is the number of rows, exact unless Capped: then there are more than Total.
	Total  int
	Capped bool
	// HasPrev and HasNext: rows exist before the first or after the last row shown.
	HasPrev, HasNext bool
	// First and Last are the keysets of the first and last row shown (zero when empty).
	First, Last Cursor
}

// Keyed reports whether the pager should link by keyset: the list is longer than it
// counts, or the page was itself found by keyset.
func (w Window) Keyed() bool { return w.Capped || w.Page.Number == 0 }
