package page

import "kv-shepherd.io/shepherd/views"

// FilterOptions builds a filter select: an "any" choice, then the values, the current one selected.
func FilterOptions(anyLabel string, values []string, cur string) []views.Option {
	out := []views.Option{{Value: "", Label: anyLabel, Selected: cur == ""}}
	for _, v := range values {
		out = append(out, views.Option{Value: v, Label: v, Selected: v == cur})
	}
	return out
}

// OneOf keeps a known filter value and drops anything else (a hand-edited query string
// must not fail the page).
func OneOf(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}
