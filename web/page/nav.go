package page

import (
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/views"
)

// NavFor lists only what the principal may use; every route checks again on its own.
func NavFor(p *authz.Principal, jobs bool) []views.NavItem {
	items := []views.NavItem{{Key: "dashboard", Label: "Dashboard", Href: "/"}}
	items = append(items, views.NavItem{Key: "permissions", Label: "My permissions", Href: "/me/permissions"})
	if jobs && p.IsPlatformAdmin() {
		items = append(items, views.NavItem{Key: "jobs", Label: "Jobs", Href: JobsPrefix + "/", External: true})
	}
	return items
}
