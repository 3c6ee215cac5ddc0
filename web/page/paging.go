package page

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/paging"
)

// Paging reads the page and per_page query parameters of a list. It never fails: anything
// that is not a plain decimal number ("abc", "1e9", "0x10", "") counts as unset, so page 1
// with defaultPer rows; numbers out of range are clamped (page to 1..paging.MaxPage,
// per_page to 1..maxPer, zero or negative per_page to defaultPer). A page past the end of
// the list is the use case's to move back (paging.Page.Within).
func Paging(c echo.Context, defaultPer, maxPer int) paging.Page {
	return PagingOf(c.QueryParams(), defaultPer, maxPer)
}

// PagingOf is Paging for an already parsed query string.
func PagingOf(q url.Values, defaultPer, maxPer int) paging.Page {
	return paging.New(queryInt(q.Get("page")), queryInt(q.Get("per_page")), defaultPer, maxPer)
}

// queryInt parses a decimal number; a number too large for int saturates (so a huge page
// is the deepest one, not page 1), anything else is 0.
func queryInt(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0
	}
	return n
}

// KeysetOf reads where a keyset page starts: after=CURSOR (the next page), before=CURSOR
// (the previous page) or page=last. Malformed cursors count as unset, so a mangled link
// shows the first page.
func KeysetOf(q url.Values) paging.Keyset {
	return paging.Keyset{
		After:  paging.ParseCursor(q.Get("after")),
		Before: paging.ParseCursor(q.Get("before")),
		Last:   q.Get("page") == "last",
	}
}
