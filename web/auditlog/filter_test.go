package auditlog

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views/auditview"
)

func TestReadFilterFormClampsPaging(t *testing.T) {
	cases := []struct {
		query      string
		page, per  int
		def, limit int
	}{
		{"", 1, 20, 20, 100},
		{"page=3&per_page=50", 3, 50, 20, 100},
		{"page=-2&per_page=0", 1, 20, 20, 100},
		{"per_page=5000", 1, 100, 20, 100},
		{"per_page=5000", 1, 1000, 100, 1000},
		{"per_page=abc", 1, 100, 100, 1000},
		{"page=9223372036854775807&per_page=100000000", paging.MaxPage, 100, 20, 100},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		f := readFilterForm(q, tc.def, tc.limit)
		if f.Page.Number != tc.page || f.Page.PerPage != tc.per {
			t.Errorf("%q: page %d per %d, want %d %d", tc.query, f.Page.Number, f.Page.PerPage, tc.page, tc.per)
		}
	}
}

func TestFilterValidation(t *testing.T) {
	ok := filterForm{Action: " user. ", From: "2026-03-01", To: "2026-03-01", Environment: "prod", Page: paging.Page{Number: 1, PerPage: 20}}
	ok.Action = strings.TrimSpace(ok.Action)
	f, errs := ok.filter()
	if len(errs) != 0 {
		t.Fatalf("valid form refused: %v", errs)
	}
	if !f.From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !f.To.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a one-day range is [%v, %v)", f.From, f.To)
	}
	api := filterForm{StartTime: "2026-03-01T10:00:00+02:00", EndTime: "2026-03-01T12:00:00Z", ActorID: "6f1c1d3e-8a43-4c41-9d59-0c5d4b8b3c11"}
	f, errs = api.filter()
	if len(errs) != 0 || !f.From.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) || f.ActorID == nil {
		t.Fatalf("API names: %+v %v", f, errs)
	}
	bad := map[string]filterForm{
		"action":      {Action: "vm;drop table"},
		"environment": {Environment: "staging"},
		"from":        {From: "01.03.2026"},
		"to":          {From: "2026-03-02", To: "2026-03-01"},
		"actor":       {ActorID: "nope"},
		"resource_id": {ResourceID: strings.Repeat("x", 256)},
	}
	for field, form := range bad {
		if _, errs := form.filter(); errs[field] == "" {
			t.Errorf("%s: no error in %v", field, errs)
		}
	}
}

func TestCompactDetails(t *testing.T) {
	got, cut := compactDetails(map[string]any{"b": 2.0, "a": "x", "nested": map[string]any{"k": true}, "big": 1e7})
	want := "a=x b=2 big=10000000 nested={\"k\":true}"
	if s := joinDetails(got); s != want || cut {
		t.Fatalf("got %q cut=%v, want %q", s, cut, want)
	}
	got, cut = compactDetails(map[string]any{"long": strings.Repeat("é", 100)})
	if !cut || len([]rune(got[0].Value)) != maxDetailValue || !strings.HasSuffix(got[0].Value, "…") {
		t.Fatalf("long value: %q cut=%v", got[0].Value, cut)
	}
	many := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		many[k] = k
	}
	got, cut = compactDetails(many)
	if !cut || len(got) != maxDetailPairs+1 || got[maxDetailPairs].Value != "2 more" {
		t.Fatalf("many: %v", got)
	}
}

func joinDetails(ds []auditview.Detail) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Key+"="+d.Value)
	}
	return strings.Join(parts, " ")
}
