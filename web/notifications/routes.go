// Package notifications is the inbox area: the list, mark read, mark all read and the
// bell's polling fragment. Every query is scoped to the signed-in user.
package notifications

import (
	"net/http"
	"time"

	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the inbox.
type Handler struct {
	Kit *page.Kit
	Now func() time.Time // nil means time.Now
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	r.App(http.MethodGet, "/notifications", h.inbox)
	r.App(http.MethodPost, "/notifications/read-all", h.markAllRead)
	r.App(http.MethodPost, "/notifications/:id/read", h.markRead)
	// The bell polls without the session middleware: a poll must not count as activity,
	// or an open tab would keep an idle session alive forever. See badge.go.
	r.E.GET("/notifications/badge", h.badge)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
