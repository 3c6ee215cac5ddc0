package systems

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// deleteSystem is POST /systems/:id/delete with the typed name in confirm_name.
// A refusal (mismatch, live services) shows the System page again, danger zone open.
func (h *Handler) deleteSystem(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	confirm := c.FormValue("confirm_name")
	err = h.Systems.DeleteSystem(c.Request().Context(), actor(c), id, confirm)
	if de := domainError(err); de != nil {
		status := http.StatusUnprocessableEntity
		if de.Code == domain.CodeDeleteRestricted {
			status = http.StatusConflict
		}
		return h.renderSystem(c, status, id, systems.TabOverview, paging.Page{},
			systemsview.DeleteForm{Open: true, ConfirmName: confirm, Error: de.Message})
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "System "+confirm+" deleted.")
	return page.Redirect(c, "/systems")
}
