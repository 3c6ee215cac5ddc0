package idpview

import (
	"net/url"

	"kv-shepherd.io/shepherd/views"
)

func base(key string) string { return "/admin/identity-providers/" + url.PathEscape(key) }

func formAction(f Form) string {
	if f.Create {
		return "/admin/identity-providers"
	}
	return base(f.Key)
}

func enableAction(enabled bool) string {
	if enabled {
		return "/disable"
	}
	return "/enable"
}

func secretHint(f Form) string {
	switch {
	case f.SecretRetype:
		return "Enter the secret again: it is never sent back to the browser."
	case f.Create:
		return "Stored encrypted (AES-256-GCM); never shown again."
	}
	return "Leave empty to keep the stored secret; it is never shown."
}

func orNone(s string) string {
	if s == "" {
		return "not offered"
	}
	return s
}

func roleOptions(roles []Option, selected string) []views.Option {
	out := []views.Option{{Value: "", Label: "Choose a role", Selected: selected == ""}}
	for _, r := range roles {
		out = append(out, views.Option{Value: r.Value, Label: r.Label, Selected: r.Value == selected})
	}
	return out
}

// MemberRoles are the System membership roles a mapping may give, as shown to people.
var MemberRoles = []Option{
	{Value: "owner", Label: "Owner"},
	{Value: "admin", Label: "Admin"},
	{Value: "member", Label: "Member"},
	{Value: "viewer", Label: "Viewer"},
}

func systemOptions(systems []Option, selected string) []views.Option {
	out := []views.Option{{Value: "", Label: "No System", Selected: selected == ""}}
	for _, s := range systems {
		out = append(out, views.Option{Value: s.Value, Label: s.Label, Selected: s.Value == selected})
	}
	return out
}

func memberRoleOptions(selected string) []views.Option {
	out := []views.Option{{Value: "", Label: "No membership", Selected: selected == ""}}
	for _, r := range MemberRoles {
		out = append(out, views.Option{Value: r.Value, Label: r.Label, Selected: r.Value == selected})
	}
	return out
}

func problems(message string, list []string) []views.Problem {
	var out []views.Problem
	if message != "" {
		out = append(out, views.Problem{Message: message})
	}
	for _, p := range list {
		out = append(out, views.Problem{Message: p})
	}
	return out
}
