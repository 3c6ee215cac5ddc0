package admin

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) namespaces(c echo.Context) error {
	env := c.QueryParam("environment")
	if env != "test" && env != "prod" {
		env = ""
	}
	pg := page.Paging(c, paging.DefaultPerPage, paging.MaxPerPage)
	rows, total, err := h.Catalog.ListNamespaces(c.Request().Context(), catalog.NamespaceFilter{Environment: env, Page: pg})
	if err != nil {
		return err
	}
	q := url.Values{}
	if env != "" {
		q.Set("environment", env)
	}
	m := adminview.NamespaceList{Environment: env, ReturnTo: c.Request().URL.RequestURI(),
		Pager: views.NewPager(pg, total, "/admin/namespaces", q)}
	for _, ns := range rows {
		m.Rows = append(m.Rows, adminview.NamespaceRow{ID: ns.ID.String(), Name: ns.Name, Environment: string(ns.Environment),
			Description: ns.Description, Enabled: ns.Enabled, Created: views.Timestamp(ns.CreatedAt), CreatedAgo: views.Ago(ns.CreatedAt)})
	}
	return page.OK(c, adminview.NamespacesPage(h.Kit.Layout(c, "Namespaces", "admin"), h.nav(c, "namespaces"), m))
}

func (h *Handler) newNamespace(c echo.Context) error {
	return h.namespaceForm(c, http.StatusOK, adminview.NamespaceForm{Enabled: true})
}

func (h *Handler) namespaceForm(c echo.Context, status int, f adminview.NamespaceForm) error {
	title := "New namespace"
	if f.ID != "" {
		title = "Namespace " + f.Name
	}
	return page.Render(c, status, adminview.NamespaceFormPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "namespaces"), f))
}

func (h *Handler) createNamespace(c echo.Context) error {
	in := catalog.NamespaceInput{Name: strings.TrimSpace(c.FormValue("name")), Environment: c.FormValue("environment"),
		Description: strings.TrimSpace(c.FormValue("description"))}
	ns, warning, err := h.Catalog.CreateNamespace(c.Request().Context(), actor(c), in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		f := adminview.NamespaceForm{Name: in.Name, Environment: in.Environment, Description: in.Description, Errors: errs, Message: msg}
		return h.namespaceForm(c, http.StatusUnprocessableEntity, f)
	}
	page.Flash(c, "success", "Namespace "+ns.Name+" ("+string(ns.Environment)+") created.")
	if warning != "" {
		page.Flash(c, "warning", ns.Name+": "+warning)
	}
	return page.Redirect(c, "/admin/namespaces")
}

func (h *Handler) editNamespace(c echo.Context) error {
	ns, err := h.loadNamespace(c)
	if err != nil {
		return err
	}
	return h.namespaceForm(c, http.StatusOK, namespaceForm(ns))
}

func (h *Handler) loadNamespace(c echo.Context) (*ent.Namespace, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	ns, err := h.Catalog.Namespace(c.Request().Context(), id)
	return ns, loadError(err)
}

func namespaceForm(ns *ent.Namespace) adminview.NamespaceForm {
	return adminview.NamespaceForm{ID: ns.ID.String(), Name: ns.Name, Environment: string(ns.Environment),
		Description: ns.Description, Enabled: ns.Enabled}
}

func (h *Handler) updateNamespace(c echo.Context) error {
	ns, err := h.loadNamespace(c)
	if err != nil {
		return err
	}
	desc := strings.TrimSpace(c.FormValue("description"))
	if _, err := h.Catalog.UpdateNamespaceDescription(c.Request().Context(), actor(c), ns.ID, desc); err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		f := namespaceForm(ns)
		f.Description, f.Errors, f.Message = desc, errs, msg
		return h.namespaceForm(c, http.StatusUnprocessableEntity, f)
	}
	page.Flash(c, "success", "Namespace "+ns.Name+" saved.")
	return page.Redirect(c, "/admin/namespaces")
}

func (h *Handler) toggleNamespace(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		ns, err := h.Catalog.SetNamespaceEnabled(c.Request().Context(), actor(c), id, enabled)
		msg := ""
		if err == nil {
			msg = "Namespace " + ns.Name + " " + enabledWord(enabled) + "."
			if !enabled {
				msg += " New requests can no longer choose it; existing VMs are not affected."
			}
		}
		return actionDone(c, err, msg, returnTo(c, "/admin/namespaces"))
	}
}

func enabledWord(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}
