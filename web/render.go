package web

import (
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/views"
)

// layout builds the page frame for the current user; flashes are consumed here.
func (h *handlers) layout(c echo.Context, title, active string) views.Layout {
	st := reqState(c)
	l := views.Layout{Title: title, Active: active, CSRF: st.csrf, Flashes: popFlashes(c), DevMode: h.d.Config.DevMode}
	if st.user != nil {
		name := st.user.DisplayName
		if name == "" {
			name = st.user.Username
		}
		l.User = &views.User{Username: st.user.Username, DisplayName: name, Initials: initials(name), Forced: st.user.ForcePasswordChange}
		l.BareNav = st.user.ForcePasswordChange
		l.Nav = navFor(st.principal, h.d.JobsUI != nil)
	}
	return l
}

// navFor lists only what the principal may use; every route checks again on its own.
func navFor(p *authz.Principal, jobs bool) []views.NavItem {
	items := []views.NavItem{{Key: "dashboard", Label: "Dashboard", Href: "/"}}
	items = append(items, views.NavItem{Key: "permissions", Label: "My permissions", Href: "/me/permissions"})
	if jobs && p.IsPlatformAdmin() {
		items = append(items, views.NavItem{Key: "jobs", Label: "Jobs", Href: JobsPrefix + "/", External: true})
	}
	return items
}

func initials(name string) string {
	var out []rune
	for _, f := range strings.Fields(name) {
		for _, r := range f {
			out = append(out, r)
			break
		}
		if len(out) == 2 {
			break
		}
	}
	return strings.ToUpper(string(out))
}

// render writes a component, saving the session first when flashes were consumed.
func (h *handlers) render(c echo.Context, status int, comp templ.Component) error {
	if st := reqState(c); st.session != nil {
		if err := h.saveSession(c); err != nil {
			return err
		}
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

func (h *handlers) renderOK(c echo.Context, comp templ.Component) error {
	return h.render(c, http.StatusOK, comp)
}
