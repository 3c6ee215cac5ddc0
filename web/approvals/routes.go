// Package approvals is the approver's area: the inbox and the approval page.
package approvals

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/web/page"
	"kv-shepherd.io/shepherd/web/requests"
)

// Handler serves the approval pages.
type Handler struct {
	Kit      *page.Kit
	Gov      *governance.Service
	Requests *requests.Handler // the request page model is shared
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	view := page.RequirePermission(authz.ApprovalView, "The approval inbox is for approvers.")
	r.App(http.MethodGet, "/approvals", h.inbox, view)
	r.App(http.MethodGet, "/approvals/batches/:id", h.showBatch, view)
	r.App(http.MethodPost, "/approvals/batches/:id/preview", h.previewBatch, view)
	r.App(http.MethodPost, "/approvals/batches/:id/approve", h.approveBatch, view)
	r.App(http.MethodPost, "/approvals/batches/:id/reject", h.rejectBatch, view)
	r.App(http.MethodPost, "/approvals/batch", h.batch, view,
		page.RequirePermission(authz.ApprovalApprove, "Deciding requests needs the approval:approve permission."))
	r.App(http.MethodGet, "/approvals/:id", h.show, view)
	r.App(http.MethodPost, "/approvals/:id/preview", h.preview, view)
	r.App(http.MethodPost, "/approvals/:id/approve", h.approve, view)
	r.App(http.MethodPost, "/approvals/:id/reject", h.reject, view)
}

func who(c echo.Context) governance.Requester {
	return governance.Requester{User: page.User(c), Principal: page.Principal(c)}
}
