// Package signin is the sign-in area: local accounts, OIDC, sign-out and password change.
package signin

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the sign-in pages.
type Handler struct {
	Kit  *page.Kit
	Auth *auth.Service
	OIDC *auth.OIDC // nil when OIDC sign-in is not configured
}

// OIDCCallbackPath is the redirect URI registered at the IdP.
const OIDCCallbackPath = "/api/v1/auth/oidc/callback"

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	r.Public(http.MethodGet, "/login", h.loginPage)
	r.Public(http.MethodPost, "/login", h.loginLocal)
	r.Public(http.MethodGet, "/auth/oidc/start", h.oidcStart)
	r.Public(http.MethodGet, OIDCCallbackPath, h.oidcCallback)
	r.App(http.MethodPost, "/logout", h.logout)
	r.App(http.MethodGet, "/account/password", h.passwordPage)
	r.App(http.MethodPost, "/account/password", h.changePassword)
}
