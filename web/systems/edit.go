package systems

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// editSystem is GET /systems/:id/edit (owner/admin).
func (h *Handler) editSystem(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	s, err := h.Systems.SystemForEdit(c.Request().Context(), page.Principal(c), id)
	if err != nil {
		return httpError(err)
	}
	return h.renderDescription(c, http.StatusOK, systemsview.DescriptionForm{Kind: "System", Name: s.Name,
		Action: systemURL(id) + "/edit", BackURL: systemURL(id), Description: s.Description})
}

// updateSystem is POST /systems/:id/edit.
func (h *Handler) updateSystem(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	s, err := h.Systems.SystemForEdit(ctx, page.Principal(c), id)
	if err != nil {
		return httpError(err)
	}
	desc, fileErr := description(c)
	form := systemsview.DescriptionForm{Kind: "System", Name: s.Name, Action: systemURL(id) + "/edit", BackURL: systemURL(id),
		Description: desc, Error: fileErr}
	if fileErr != "" {
		return h.renderDescription(c, http.StatusUnprocessableEntity, form)
	}
	err = h.Systems.UpdateSystemDescription(ctx, actor(c), id, desc)
	if fe := fieldErrors(err); fe != nil {
		form.Error = fe["description"]
		return h.renderDescription(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "Description of "+s.Name+" saved.")
	return page.Redirect(c, systemURL(id))
}

func (h *Handler) renderDescription(c echo.Context, status int, m systemsview.DescriptionForm) error {
	return page.Render(c, status, systemsview.EditDescription(h.Kit.Layout(c, "Edit "+m.Name, "systems"), m))
}
