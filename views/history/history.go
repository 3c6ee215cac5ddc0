// Package history renders a resource's audit trail as a "History" tab. It takes plain
// rows so any area (Systems, Services, VMs, ...) can reuse it without handing Ent types
// to the view layer.
package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Row is one audit record as the History tab shows it.
type Row struct {
	When    time.Time
	Actor   string
	Action  string // the audit code, e.g. system.update
	Label   string // what a person reads, e.g. "Description edited"
	Summary string // the details in one line
}

// NewRow builds a row from an audit record's fields. Details are already redacted when
// written; values still marked as redacted are left out rather than shown.
func NewRow(when time.Time, actor, action string, details map[string]any) Row {
	if actor == "" {
		actor = "system"
	}
	return Row{When: when, Actor: actor, Action: action, Label: Label(action), Summary: Summary(action, details)}
}

var labels = map[string]string{
	"system.create":             "System created",
	"system.update":             "Description edited",
	"system.delete":             "System deleted",
	"system.transfer_ownership": "Ownership transferred",
	"service.create":            "Service created",
	"service.update":            "Description edited",
	"service.delete_request":    "Deletion requested",
	"service.delete":            "Service deleted",
	"role.assign":               "Member added",
	"role.update":               "Member role changed",
	"role.revoke":               "Member removed",
	"vm.request":                "VM requested",
	"vm.create":                 "VM created",
	"vm.start":                  "VM started",
	"vm.stop":                   "VM stopped",
	"vm.restart":                "VM restarted",
	"vm.delete_request":         "VM deletion requested",
	"vm.start_request":          "Start requested",
	"vm.stop_request":           "Stop requested",
	"vm.restart_request":        "Restart requested",
	"vm.create_failed":          "VM creation failed",
	"vm.start_failed":           "Start failed",
	"vm.stop_failed":            "Stop failed",
	"vm.restart_failed":         "Restart failed",
	"vm.delete_failed":          "Deletion failed",
	"vm.delete":                 "VM deleted",
	"vnc.access":                "Console session",
	"vnc.request":               "Console access requested",
	"vnc.grant":                 "Console access granted",
	"vnc.deny":                  "Console access denied",
	"vnc.grant_revoke":          "Console access revoked",
	"vnc.ticket_issue":          "Console ticket issued",
	"vnc.session_open":          "Console opened",
	"vnc.revoke":                "Console session ended by an admin",
	"approval.approve":          "Request approved",
	"approval.reject":           "Request rejected",
	"approval.cancel":           "Request cancelled",
	"approval.auto_approve":     "Approved automatically",
	"approval.auto_fallback":    "Left to an approver",
	// Batch requests (governance/batch.go).
	"vm.batch_request":                    "VMs requested as a batch",
	"approval.batch_approve":              "Batch approved",
	"approval.batch_reject":               "Batch rejected",
	"approval.self_batch_approve_refused": "Own batch approval refused",
	"approval.self_batch_reject_refused":  "Own batch rejection refused",
	"vm.batch_retry":                      "Failed VMs of a batch retried",
	"vm.retry":                            "VM creation retried",
}

// Label is the human wording of an audit action; unknown actions are spelled out.
func Label(action string) string {
	if l, ok := labels[action]; ok {
		return l
	}
	s := strings.NewReplacer(".", " ", "_", " ").Replace(action)
	if s == "" {
		return "Change"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

const redacted = "[REDACTED]"

// summaryWidth bounds each value, so a long description does not flood the table.
const summaryWidth = 60

// Summary condenses details into one line. Membership and ownership changes get a
// sentence; everything else is "key: value" pairs in a stable order.
func Summary(action string, d map[string]any) string {
	str := func(k string) string { return short(d[k]) }
	switch action {
	case "role.assign":
		return fmt.Sprintf("%s as %s", str("user"), str("role"))
	case "role.update":
		return fmt.Sprintf("%s: %s → %s", str("user"), str("old_role"), str("new_role"))
	case "role.revoke":
		return fmt.Sprintf("%s (was %s)", str("user"), str("role"))
	case "system.transfer_ownership":
		return fmt.Sprintf("%s → %s", str("from"), str("to"))
	case "vnc.request":
		return fmt.Sprintf("for %s: %s", str("duration"), str("reason"))
	case "vnc.grant":
		return fmt.Sprintf("%s, %s until %s", str("user"), str("duration"), clock(d["expires_at"]))
	case "approval.auto_approve":
		return fmt.Sprintf("Approved automatically by policy %s (v%s): %s on %s", str("policy"), str("policy_version"), str("vm"), str("cluster"))
	case "system.update", "service.update":
		if _, ok := d["old"]; ok {
			return fmt.Sprintf("%s: “%s” → “%s”", orDefault(str("field"), "description"), str("old"), str("new"))
		}
	}
	keys := make([]string, 0, len(d))
	for k, v := range d {
		if s, ok := v.(string); ok && (s == redacted || s == "") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+short(d[k]))
	}
	return strings.Join(parts, " · ")
}

// clock shows an RFC 3339 time as "14:05 UTC", the way grants are spoken of.
func clock(v any) string {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("15:04 MST")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// short flattens a value to at most summaryWidth characters on one line.
func short(v any) string {
	var s string
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		if t == redacted {
			return ""
		}
		s = t
	case []any:
		items := make([]string, 0, len(t))
		for _, x := range t {
			items = append(items, short(x))
		}
		s = strings.Join(items, ", ")
	case []string:
		s = strings.Join(t, ", ")
	case map[string]any:
		s = "{…}"
	case float64:
		s = fmt.Sprintf("%g", t)
	default:
		s = fmt.Sprint(t)
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > summaryWidth {
		s = string(r[:summaryWidth]) + "…"
	}
	return s
}
