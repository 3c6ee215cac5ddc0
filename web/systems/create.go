package systems

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

const cannotCreateSystems = "Creating Systems needs the system:write permission."

// newSystem is GET /systems/new.
func (h *Handler) newSystem(c echo.Context) error {
	if !page.Principal(c).Has(authz.SystemWrite) {
		return echo.NewHTTPError(http.StatusForbidden, cannotCreateSystems)
	}
	return h.renderNewSystem(c, http.StatusOK, systemsview.SystemForm{})
}

func (h *Handler) renderNewSystem(c echo.Context, status int, m systemsview.SystemForm) error {
	return page.Render(c, status, systemsview.NewSystem(h.Kit.Layout(c, "New System", "systems"), m))
}

// createSystem is POST /systems/new: PRG to the new System, or the form again with errors.
func (h *Handler) createSystem(c echo.Context) error {
	desc, fileErr := description(c)
	in := systems.SystemInput{Name: c.FormValue("name"), Description: desc}
	form := systemsview.SystemForm{Name: in.Name, Description: in.Description}
	if fileErr != "" {
		form.Errors = map[string]string{"description_file": fileErr}
		return h.renderNewSystem(c, http.StatusUnprocessableEntity, form)
	}
	res, err := h.Systems.CreateSystem(c.Request().Context(), actor(c), in)
	if fe := fieldErrors(err); fe != nil {
		form.Errors = fe
		return h.renderNewSystem(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "System "+res.Name+" created. You are its owner.")
	if res.Warning != "" {
		page.Flash(c, "warning", "Name "+res.Name+": "+res.Warning+" (NAME_LENGTH_WARNING)")
	}
	return page.Redirect(c, "/systems/"+res.ID)
}

// checkSystemName is GET /systems/check-name?name=: the live help line under the field.
func (h *Handler) checkSystemName(c echo.Context) error {
	st, err := h.Systems.CheckSystemName(c.Request().Context(), page.Principal(c), c.QueryParam("name"))
	if err != nil {
		return httpError(err)
	}
	return page.OK(c, systemsview.NameHelp(nameHelp(st)))
}
