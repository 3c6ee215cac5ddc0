package home

import (
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

var memberGrants = map[authz.MemberRole]string{
	authz.Owner:  "everything, including transferring ownership",
	authz.Admin:  "view, create, update, delete, manage members",
	authz.Member: "view, create services and VM requests",
	authz.Viewer: "view only",
}

func (h *Handler) permissionsModel(c echo.Context) (views.Permissions, error) {
	st := page.StateOf(c)
	p := st.Principal
	m := views.Permissions{Username: st.User.Username, IsAdmin: p.IsPlatformAdmin()}
	for _, b := range p.Bindings {
		scope := "Global"
		if b.ScopeType == "system" {
			scope = "System " + b.ScopeID
		}
		m.Bindings = append(m.Bindings, views.BindingRow{Role: b.Role, Scope: scope, Source: sourceLabel(b.Source), Environments: b.Environments})
	}
	for _, ms := range p.Memberships {
		m.Memberships = append(m.Memberships, views.MembershipRow{
			System:    ms.SystemName,
			SystemURL: "/systems/" + ms.SystemID.String(),
			Role:      string(ms.Role),
			Grants:    memberGrants[ms.Role],
		})
	}
	perms, err := h.Kit.Store.Ent.Permission.Query().All(c.Request().Context())
	if err != nil {
		return m, err
	}
	sort.Slice(perms, func(i, j int) bool { return perms[i].ID < perms[j].ID })
	for _, perm := range perms {
		if p.Has(perm.ID) {
			m.Effective = append(m.Effective, views.PermissionRow{ID: perm.ID, Description: perm.Description, Environments: p.Environments(perm.ID)})
		}
	}
	return m, nil
}

func (h *Handler) permissionsPage(c echo.Context) error {
	m, err := h.permissionsModel(c)
	if err != nil {
		return err
	}
	return page.OK(c, views.PermissionsPage(h.Kit.Layout(c, "My permissions", "permissions"), m))
}

// permissionsJSON is GET /api/v1/me/permissions for scripts and API clients.
func (h *Handler) permissionsJSON(c echo.Context) error {
	m, err := h.permissionsModel(c)
	if err != nil {
		return err
	}
	type perm struct {
		ID           string   `json:"id"`
		Environments []string `json:"environments"`
	}
	type member struct {
		System string `json:"system"`
		Role   string `json:"role"`
	}
	out := struct {
		Username      string   `json:"username"`
		PlatformAdmin bool     `json:"platform_admin"`
		Permissions   []perm   `json:"permissions"`
		Memberships   []member `json:"memberships"`
	}{Username: m.Username, PlatformAdmin: m.IsAdmin, Permissions: []perm{}, Memberships: []member{}}
	for _, e := range m.Effective {
		out.Permissions = append(out.Permissions, perm{ID: e.ID, Environments: e.Environments})
	}
	for _, ms := range m.Memberships {
		out.Memberships = append(out.Memberships, member{System: ms.System, Role: ms.Role})
	}
	return c.JSON(http.StatusOK, out)
}
