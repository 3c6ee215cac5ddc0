package admin

import (
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/views/adminview"
)

// identityTabs are the tabs of the identity administration (web/admin/idpadmin).
func (h *Handler) identityTabs(p *authz.Principal) []adminview.Tab {
	if !p.IsPlatformAdmin() {
		return nil
	}
	return []adminview.Tab{{Key: "idp", Label: "Identity providers", Href: "/admin/identity-providers"}}
}

// Nav is the admin tab bar, for the admin areas in their own packages.
func (h *Handler) Nav(c echo.Context, active string) adminview.Nav { return h.nav(c, active) }
