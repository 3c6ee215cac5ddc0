// Package signin is the sign-in area: local accounts, OIDC, sign-out and password change.
package signin

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the sign-in pages.
type Handler struct {
	Kit  *page.Kit
	Auth *auth.Service
	OIDC *auth.OIDC // nil when OIDC sign-in is not configured
	// IdP holds the identity providers added in the portal (nil: none).
	IdP *idp.Service
	// DevIssuer: OIDC is the built-in development issuer (its demo users are advertised).
	DevIssuer bool
}

// SignedOutPath is the page the browser lands on after signing out, also after the
// provider's end-session endpoint (register BASE_URL + SignedOutPath at the provider as
// a post-logout redirect URI).
const SignedOutPath = "/signed-out"

// OIDCCallbackPath is the redirect URI registered at the IdP.
const OIDCCallbackPath = "/api/v1/auth/oidc/callback"

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	r.Public(http.MethodGet, "/login", h.loginPage)
	r.Public(http.MethodPost, "/login", h.loginLocal)
	r.Public(http.MethodGet, "/auth/oidc/start", h.oidcStart)
	r.Public(http.MethodGet, "/auth/idp/:key/start", h.idpStart)
	r.Public(http.MethodGet, OIDCCallbackPath, h.oidcCallback)
	r.Public(http.MethodGet, SignedOutPath, h.signedOut)
	r.App(http.MethodPost, "/logout", h.logout)
	r.App(http.MethodGet, "/account/password", h.passwordPage)
	r.App(http.MethodPost, "/account/password", h.changePassword)
}
