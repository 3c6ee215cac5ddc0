package systems

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// newService is GET /services/new?system=<id>.
func (h *Handler) newService(c echo.Context) error {
	return h.renderNewService(c, http.StatusOK, c.QueryParam("system"), systemsview.ServiceForm{})
}

// renderNewService draws the form with only the Systems the user may create Services in.
func (h *Handler) renderNewService(c echo.Context, status int, selected string, m systemsview.ServiceForm) error {
	choices, err := h.Systems.CreatableSystems(c.Request().Context(), page.Principal(c))
	if err != nil {
		return httpError(err)
	}
	if len(choices) == 0 {
		m.Systems = []views.Option{{Value: "", Label: "You are not owner, admin or member of any System", Disabled: true, Selected: true}}
	}
	for _, s := range choices {
		m.Systems = append(m.Systems, views.Option{Value: s.ID.String(), Label: s.Name, Selected: s.ID.String() == selected})
	}
	return page.Render(c, status, systemsview.NewService(h.Kit.Layout(c, "New service", "systems"), m))
}

// createService is POST /services/new. A System id the user may not use (tampered form)
// comes back as a field error and nothing is written.
func (h *Handler) createService(c echo.Context) error {
	desc, fileErr := description(c)
	in := systems.ServiceInput{SystemID: c.FormValue("system"), Name: c.FormValue("name"), Description: desc}
	form := systemsview.ServiceForm{Name: in.Name, Description: in.Description}
	if fileErr != "" {
		form.Errors = map[string]string{"description_file": fileErr}
		return h.renderNewService(c, http.StatusUnprocessableEntity, in.SystemID, form)
	}
	res, err := h.Systems.CreateService(c.Request().Context(), actor(c), in)
	if fe := fieldErrors(err); fe != nil {
		form.Errors = fe
		return h.renderNewService(c, http.StatusUnprocessableEntity, in.SystemID, form)
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", "Service "+res.Name+" created.")
	if res.Warning != "" {
		page.Flash(c, "warning", "Name "+res.Name+": "+res.Warning+" (NAME_LENGTH_WARNING)")
	}
	return page.Redirect(c, "/services/"+res.ID)
}

// checkServiceName is GET /services/check-name?system=&name= (htmx).
func (h *Handler) checkServiceName(c echo.Context) error {
	st, err := h.Systems.CheckServiceName(c.Request().Context(), page.Principal(c), c.QueryParam("system"), c.QueryParam("name"))
	if err != nil {
		return httpError(err)
	}
	return page.OK(c, systemsview.NameHelp(nameHelp(st)))
}
