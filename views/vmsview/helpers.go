package vmsview

import (
	"fmt"
	"strings"

	"github.com/a-h/templ"
)

// LiveTrigger is the event static/js/live.js sends an element when a topic it lists in
// data-live has changed (pushed by /events; every 30 s while the stream is down).
const LiveTrigger = "shepherd-live"

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// pollAttrs make the live block re-fetch itself whenever the VM or one of its tickets
// changes, whoever changed it; queue last: a change during a fetch is fetched after it.
func pollAttrs(m Live) templ.Attributes {
	return templ.Attributes{"data-live": "vm:" + m.ID, "data-hx-get": "/vms/" + m.ID + "/status", "data-hx-trigger": LiveTrigger,
		"data-hx-swap": "outerHTML", "data-hx-sync": "this:queue last"}
}

// rowsPollAttrs make the list's table body re-fetch itself when a VM on it changes.
func rowsPollAttrs(m List) templ.Attributes {
	topics := make([]string, len(m.Rows))
	for i, r := range m.Rows {
		topics[i] = "vm:" + r.ID
	}
	return templ.Attributes{"data-live": strings.Join(topics, " "), "data-hx-get": m.RowsURL, "data-hx-trigger": LiveTrigger,
		"data-hx-swap": "outerHTML", "data-hx-sync": "this:queue last"}
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

// batchHint is the batch bar's text before anything is ticked (and without script).
func batchHint(m List) string {
	s := fmt.Sprintf("Tick VMs to act on several at once: up to %d to start, stop or restart", m.MaxPower)
	if !m.CanOperate {
		return fmt.Sprintf("Tick VMs to delete several at once (up to %d).", m.MaxDelete)
	}
	if m.CanDelete {
		s += fmt.Sprintf(", %d to delete", m.MaxDelete)
	}
	return s + "."
}

func batchDeleteOrder(m BatchDelete) []string {
	order := []string{}
	for _, v := range m.VMs {
		order = append(order, v.ConfirmField())
	}
	return append(order, "confirm", "reason")
}
