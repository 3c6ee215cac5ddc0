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

// editService is GET /services/:id/edit (owner/admin of the System).
func (h *Handler) editService(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	sv, _, err := h.Systems.ServiceForEdit(c.Request().Context(), page.Principal(c), id)
	if err != nil {
		return httpError(err)
	}
	return h.renderDescription(c, http.StatusOK, systemsview.DescriptionForm{Kind: "service", Name: sv.Name,
		Action: serviceURL(id) + "/edit", BackURL: serviceURL(id), Description: sv.Description})
}

// updateService is POST /services/:id/edit.
func (h *Handler) updateService(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sv, _, err := h.Systems.ServiceForEdit(ctx, page.Principal(c), id)
	if err != nil {
		return httpError(err)
	}
	desc, fileErr := description(c)
	form := systemsview.DescriptionForm{Kind: "service", Name: sv.Name, Action: serviceURL(id) + "/edit", BackURL: serviceURL(id),
		Description: desc, Error: fileErr}
	if fileErr != "" {
		return h.renderDescription(c, http.StatusUnprocessableEntity, form)
	}
	err = h.Systems.UpdateServiceDescription(ctx, actor(c), id, desc)
	if fe := fieldErrors(err); fe != nil {
		form.Error = fe["description"]
		return h.renderDescription(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "Description of "+sv.Name+" saved.")
	return page.Redirect(c, serviceURL(id))
}

// deleteService is POST /services/:id/delete with confirm=true. Refusals re-render the
// Service page with the reason in its danger zone.
func (h *Handler) deleteService(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	systemID, err := h.Systems.DeleteService(c.Request().Context(), actor(c), id, c.FormValue("confirm") == "true")
	if de := domainError(err); de != nil {
		status := http.StatusUnprocessableEntity
		if de.Code == domain.CodeDeleteRestricted {
			status = http.StatusConflict
		}
		return h.renderService(c, status, id, systems.TabOverview, paging.Page{}, de.Message)
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "Service deleted.")
	return page.Redirect(c, systemURL(systemID))
}
