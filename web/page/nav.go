package page

import (
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/views"
)

// NavFor lists only what the principal may use; every route checks again on its own.
func NavFor(p *authz.Principal, jobs bool) []views.NavItem {
	items := []views.NavItem{{Key: "dashboard", Label: "Dashboard", Href: "/"}}
	if p.Has(authz.SystemRead) {
		items = append(items, views.NavItem{Key: "systems", Label: "Systems", Href: "/systems"})
	}
	if p.Has(authz.VMRead) {
		items = append(items, views.NavItem{Key: "vms", Label: "VMs", Href: "/vms"})
	}
	if p.Has(authz.VMCreate) {
		items = append(items, views.NavItem{Key: "requests", Label: "My requests", Href: "/requests"})
	}
	if p.Has(authz.ApprovalView) {
		items = append(items, views.NavItem{Key: "approvals", Label: "Approvals", Href: "/approvals"})
	}
	if p.IsPlatformAdmin() || p.Has(authz.ClusterManage) || p.Has(authz.TemplateManage) {
		items = append(items, views.NavItem{Key: "admin", Label: "Admin", Href: "/admin"})
	}
	if p.Has(authz.AuditRead) {
		items = append(items, views.NavItem{Key: "audit", Label: "Audit log", Href: "/admin/audit"})
	}
	if jobs && p.IsPlatformAdmin() {
		items = append(items, views.NavItem{Key: "jobs", Label: "Jobs", Href: JobsPrefix + "/", External: true})
	}
	return items
}
