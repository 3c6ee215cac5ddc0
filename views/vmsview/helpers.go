package vmsview

import "github.com/a-h/templ"

// PollInterval is how often a block in flight asks for itself again.
const PollInterval = "every 2s"

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// pollAttrs make the live block poll while work is in flight; without them htmx stops.
func pollAttrs(m Live) templ.Attributes {
	if !m.Poll {
		return templ.Attributes{}
	}
	return templ.Attributes{"hx-get": "/vms/" + m.ID + "/status", "hx-trigger": PollInterval, "hx-swap": "outerHTML"}
}

// rowsPollAttrs make the list's table body poll while a row on the page is transitional.
func rowsPollAttrs(m List) templ.Attributes {
	if !m.Poll {
		return templ.Attributes{}
	}
	return templ.Attributes{"hx-get": m.RowsURL, "hx-trigger": PollInterval, "hx-swap": "outerHTML"}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// stepClass maps a step state to the timeline's classes (shared with the request page).
func stepClass(state string) string {
	switch state {
	case "done":
		return "done"
	case "running":
		return "current"
	case "failed":
		return "failed"
	}
	return "pending"
}

func powerClass(b PowerButton) string {
	if b.Danger {
		return "secondary"
	}
	return ""
}

func invalidIf(err string) templ.Attributes {
	if err != "" {
		return templ.Attributes{"aria-invalid": "true"}
	}
	return templ.Attributes{}
}
