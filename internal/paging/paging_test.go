package paging_test

import (
	"math"
	"testing"

	"kv-shepherd.io/shepherd/internal/paging"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		number, per, def, limit int
		want                    paging.Page
	}{
		{0, 0, 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{3, 50, 20, 100, paging.Page{Number: 3, PerPage: 50}},
		{-5, -5, 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{math.MinInt, math.MinInt, 20, 100, paging.Page{Number: 1, PerPage: 20}},
		{math.MaxInt, math.MaxInt, 20, 100, paging.Page{Number: paging.MaxPage, PerPage: 100}},
		{paging.MaxPage + 1, 100, 20, 100, paging.Page{Number: paging.MaxPage, PerPage: 100}},
		{2, 5000, 100, 1000, paging.Page{Number: 2, PerPage: 1000}},
		{1, 0, 100, 1000, paging.Page{Number: 1, PerPage: 100}},
		// Nonsense limits still give a usable page.
		{1, 0, 0, 0, paging.Page{Number: 1, PerPage: 1}},
		{1, 0, 500, 100, paging.Page{Number: 1, PerPage: 100}},
	}
	for _, tc := range cases {
		if got := paging.New(tc.number, tc.per, tc.def, tc.limit); got != tc.want {
			t.Errorf("New(%d, %d, %d, %d) = %+v, want %+v", tc.number, tc.per, tc.def, tc.limit, got, tc.want)
		}
	}
	if got := (paging.Page{}).Standard(); got != (paging.Page{Number: 1, PerPage: paging.DefaultPerPage}) {
		t.Errorf("Standard of the zero page: %+v", got)
	}
}

func TestOffsetNeverOverflows(t *testing.T) {
	// The deepest page of the largest page size stays inside int32 (PostgreSQL's OFFSET
	// takes a bigint, but drivers and int32 platforms must not wrap either).
	deepest := paging.New(math.MaxInt, math.MaxInt, 100, 1000)
	if off := deepest.Offset(); off != (paging.MaxPage-1)*1000 || off > math.MaxInt32 {
		t.Fatalf("deepest offset %d", off)
	}
	for _, p := range []paging.Page{{Number: math.MaxInt, PerPage: math.MaxInt}, {Number: 3, PerPage: math.MaxInt},
		{Number: math.MinInt, PerPage: 20}, {Number: 5, PerPage: -20}} {
		if off := p.Offset(); off < 0 {
			t.Errorf("%+v: negative offset %d", p, off)
		}
	}
	if off := (paging.Page{Number: 3, PerPage: 20}).Offset(); off != 40 {
		t.Errorf("page 3 of 20: offset %d", off)
	}
}

func TestWithinShowsTheLastPage(t *testing.T) {
	cases := []struct {
		page        paging.Page
		total       int
		pages, want int
	}{
		{paging.Page{Number: 1, PerPage: 20}, 0, 1, 1},
		{paging.Page{Number: 7, PerPage: 20}, 0, 1, 1},
		{paging.Page{Number: 2, PerPage: 20}, 20, 1, 1},
		{paging.Page{Number: 2, PerPage: 20}, 21, 2, 2},
		{paging.Page{Number: paging.MaxPage, PerPage: 20}, 45, 3, 3},
		{paging.Page{Number: 2, PerPage: 3}, 100, 34, 2},
		{paging.Page{Number: 2, PerPage: 0}, 100, 1, 1},
		{paging.Page{Number: 4, PerPage: 1}, math.MaxInt, math.MaxInt, 4},
	}
	for _, tc := range cases {
		if n := tc.page.Pages(tc.total); n != tc.pages {
			t.Errorf("%+v of %d: %d pages, want %d", tc.page, tc.total, n, tc.pages)
		}
		if got := tc.page.Within(tc.total); got.Number != tc.want || got.PerPage != tc.page.PerPage {
			t.Errorf("%+v within %d: %+v, want page %d", tc.page, tc.total, got, tc.want)
		}
	}
}
