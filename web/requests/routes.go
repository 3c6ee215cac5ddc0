// Package requests is the requester's area: the VM request form, "My requests" and the
// request page with its timeline.
package requests

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the request pages.
type Handler struct {
	Kit *page.Kit
	Gov *governance.Service
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	need := page.RequirePermission(authz.VMCreate, "Requesting VMs needs the vm:create permission.")
	r.App(http.MethodGet, "/requests", h.list)
	r.App(http.MethodGet, "/requests/new", h.form, need)
	r.App(http.MethodPost, "/requests/new", h.submit, need)
	r.App(http.MethodGet, "/requests/size-card", h.sizeCard, need)
	r.App(http.MethodGet, "/requests/:id", h.detail)
	r.App(http.MethodGet, "/requests/:id/status", h.status, page.Unchanged)
	r.App(http.MethodPost, "/requests/:id/cancel", h.cancel)
	// Batch requests: readable like their children's request pages, authorized in the use case.
	r.App(http.MethodGet, "/batches/:id", h.batch)
	r.App(http.MethodGet, "/batches/:id/live", h.batchLive, page.Unchanged)
	r.App(http.MethodPost, "/batches/:id/retry", h.retryBatch)
	// Console access to a prod VM is requested from the console page.
	r.App(http.MethodPost, "/vms/:id/console/request", h.requestConsole,
		page.RequirePermission(authz.VNCAccess, "Consoles need the vnc:access permission."))
}

func who(c echo.Context) governance.Requester {
	return governance.Requester{User: page.User(c), Principal: page.Principal(c)}
}

// pathID parses :id; anything malformed is simply not found.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

func notFoundOr(err error) error {
	if errors.Is(err, governance.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return err
}
