package page

import (
	"net/url"
	"testing"

	"kv-shepherd.io/shepherd/internal/paging"
)

func TestPagingOfNeverFails(t *testing.T) {
	cases := []struct {
		query      string
		def, limit int
		want       paging.Page
	}{
		{"", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=3&per_page=50", 20, 100, paging.Page{Number: 3, PerPage: 50}},
		{"page=+3&per_page=%2050%20", 20, 100, paging.Page{Number: 3, PerPage: 50}},
		{"page=0&per_page=0", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=-5&per_page=-5", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=9223372036854775807", 20, 100, paging.Page{Number: paging.MaxPage, PerPage: 20}},
		{"page=9223372036854775808&per_page=99999999999999999999999", 20, 100, paging.Page{Number: paging.MaxPage, PerPage: 100}},
		{"page=-9223372036854775809&per_page=-99999999999999999999", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=100001", 20, 100, paging.Page{Number: paging.MaxPage, PerPage: 20}},
		{"per_page=100000000", 20, 100, paging.Page{Number: 1, PerPage: 100}},
		{"per_page=5000", 100, 1000, paging.Page{Number: 1, PerPage: 1000}},
		{"page=abc&per_page=abc", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=1e9&per_page=1e9", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=0x10&per_page=0x10", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=1_000&per_page=2.5", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=%EF%BC%93", 20, 100, paging.Page{Number: 1, PerPage: 20}}, // a full-width ３
		{"page=NaN&per_page=Inf", 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{"page=2&page=9", 20, 100, paging.Page{Number: 2, PerPage: 20}}, // the first value counts
	}
	for _, tc := range cases {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		got := PagingOf(q, tc.def, tc.limit)
		if got != tc.want {
			t.Errorf("%q (default %d, max %d): %+v, want %+v", tc.query, tc.def, tc.limit, got, tc.want)
		}
		if got.Offset() < 0 {
			t.Errorf("%q: negative offset %d", tc.query, got.Offset())
		}
	}
}

func FuzzPaging(f *testing.F) {
	for _, s := range []string{"1", "-5", "9223372036854775807", "1e9", "0x10", "abc", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, pg, per string) {
		p := PagingOf(url.Values{"page": {pg}, "per_page": {per}}, 20, 100)
		if p.Number < 1 || p.Number > paging.MaxPage || p.PerPage < 1 || p.PerPage > 100 || p.Offset() < 0 {
			t.Fatalf("page %q per_page %q: %+v", pg, per, p)
		}
	})
}
