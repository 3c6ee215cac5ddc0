// Package systems is the self-service hierarchy area: Systems, their members, and
// Services. Handlers parse the request, call one use case of internal/systems (which
// checks rights again) and render or redirect.
package systems

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the area.
type Handler struct {
	Kit     *page.Kit
	Systems *systems.Manager
}

// Register adds the area's routes. Fixed paths (/systems/new, /systems/check-name) win
// over /systems/:id in Echo's router.
func (h *Handler) Register(r *page.Router) {
	r.App(http.MethodGet, "/systems", h.list)
	r.App(http.MethodGet, "/systems/new", h.newSystem)
	r.App(http.MethodPost, "/systems/new", h.createSystem)
	r.App(http.MethodGet, "/systems/check-name", h.checkSystemName)
	r.App(http.MethodGet, "/systems/:id", h.showSystem)
	r.App(http.MethodGet, "/systems/:id/edit", h.editSystem)
	r.App(http.MethodPost, "/systems/:id/edit", h.updateSystem)
	r.App(http.MethodPost, "/systems/:id/delete", h.deleteSystem)
	r.App(http.MethodGet, "/systems/:id/members", h.members)
	r.App(http.MethodGet, "/systems/:id/members/search", h.searchMembers)
	r.App(http.MethodPost, "/systems/:id/members", h.addMember)
	r.App(http.MethodPost, "/systems/:id/members/:user/role", h.changeMemberRole)
	r.App(http.MethodPost, "/systems/:id/members/:user/remove", h.removeMember)
	r.App(http.MethodPost, "/systems/:id/transfer", h.transferOwnership)

	r.App(http.MethodGet, "/services/new", h.newService)
	r.App(http.MethodPost, "/services/new", h.createService)
	r.App(http.MethodGet, "/services/check-name", h.checkServiceName)
	r.App(http.MethodGet, "/services/:id", h.showService)
	r.App(http.MethodGet, "/services/:id/edit", h.editService)
	r.App(http.MethodPost, "/services/:id/edit", h.updateService)
	r.App(http.MethodPost, "/services/:id/delete", h.deleteService)

	r.App(http.MethodPost, "/markdown/preview", h.previewMarkdown)
}
