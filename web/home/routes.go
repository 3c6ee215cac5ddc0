// Package home is the signed-in landing area: the dashboard and "My permissions".
package home

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the dashboard and permission pages.
type Handler struct {
	Kit *page.Kit
	Gov *governance.Service
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	r.App(http.MethodGet, "/", h.dashboard)
	r.App(http.MethodGet, "/me/permissions", h.permissionsPage)
	r.App(http.MethodGet, "/api/v1/me/permissions", h.permissionsJSON)
}
