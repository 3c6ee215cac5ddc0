// Package auditlog is the audit log viewer and its JSON export, for holders of
// audit:read. Both are audited themselves (audit.view, audit.export): reading the log
// is access to sensitive data (spec/domain.md §10.4).
package auditlog

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the audit log.
type Handler struct{ Kit *page.Kit }

const (
	listPath   = "/admin/audit"
	exportPath = "/admin/audit/export"
)

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	need := page.RequirePermission(authz.AuditRead, "The audit log is for auditors and platform administrators.")
	r.App(http.MethodGet, listPath, h.list, need)
	r.App(http.MethodGet, exportPath, h.export, need)
	r.App(http.MethodGet, archivesPath, h.archives, need)
	r.App(http.MethodGet, archivesPath+"/:id/download", h.downloadArchive, need)
}
