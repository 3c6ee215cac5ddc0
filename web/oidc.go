package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/views"
)

const (
	keyOIDCState    = "oidc_state"
	keyOIDCNonce    = "oidc_nonce"
	keyOIDCVerifier = "oidc_verifier"
	keyOIDCNext     = "oidc_next"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// oidcStart keeps state, nonce and the PKCE verifier in the server-side session and sends
// the browser to the IdP.
func (h *handlers) oidcStart(c echo.Context) error {
	if h.d.OIDC == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	target, p, err := h.d.OIDC.Start(c.Request().Context())
	if err != nil {
		h.d.Logger.Error("OIDC provider unreachable", "request_id", requestID(c), "err", err)
		m := h.loginModel(c)
		m.Error = "The identity provider cannot be reached right now. Try again in a moment."
		return h.render(c, http.StatusBadGateway, views.LoginPage(h.withBareLayout(c, "Sign in"), m))
	}
	s := reqState(c).session
	s.Values[keyOIDCState] = p.State
	s.Values[keyOIDCNonce] = p.Nonce
	s.Values[keyOIDCVerifier] = p.Verifier
	s.Values[keyOIDCNext] = safeNext(c.QueryParam("next"))
	if err := h.saveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, target)
}

// oidcCallback completes the sign-in. The pending values are removed from the session
// before anything else, so a replayed callback finds nothing to match.
func (h *handlers) oidcCallback(c echo.Context) error {
	if h.d.OIDC == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	s := reqState(c).session
	str := func(k string) string { v, _ := s.Values[k].(string); return v }
	pending := auth.Pending{State: str(keyOIDCState), Nonce: str(keyOIDCNonce), Verifier: str(keyOIDCVerifier)}
	next := safeNext(str(keyOIDCNext))
	for _, k := range []string{keyOIDCState, keyOIDCNonce, keyOIDCVerifier, keyOIDCNext} {
		delete(s.Values, k)
	}
	if err := h.saveSession(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	id, err := h.d.OIDC.Finish(ctx, pending, q.Get("state"), q.Get("code"), q.Get("error"))
	if err != nil {
		var le *auth.LoginError
		reason := "internal_error"
		if errors.As(err, &le) {
			reason = le.Reason
		}
		h.d.Auth.LoginFailed(ctx, "oidc", "", reason)
		h.d.Logger.Warn("OIDC sign-in failed", "request_id", requestID(c), "reason", reason, "err", err)
		m := h.loginModel(c)
		m.Error = loginFailureMessage(reason)
		return h.render(c, http.StatusUnauthorized, views.LoginPage(h.withBareLayout(c, "Sign in"), m))
	}
	u, err := h.d.Auth.LoginOIDC(ctx, id, h.d.Config.OIDCIssuer)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		m := h.loginModel(c)
		m.Error = "Your account is disabled. Contact a platform administrator."
		return h.render(c, http.StatusForbidden, views.LoginPage(h.withBareLayout(c, "Sign in"), m))
	}
	if err != nil {
		return err
	}
	return h.startSession(c, u, next)
}

func loginFailureMessage(reason string) string {
	switch reason {
	case "no_pending_login", "state_mismatch":
		return "This sign-in link is no longer valid (it was used already, or started in another browser). Please sign in again."
	case "token_expired", "token_too_old":
		return "The identity provider's answer has expired. Please sign in again."
	case "idp_error":
		return "The identity provider refused the sign-in."
	case "idp_unreachable":
		return "The identity provider cannot be reached right now. Try again in a moment."
	default:
		return "The identity provider's answer could not be verified, so you were not signed in. Please try again; if it keeps happening, contact a platform administrator."
	}
}
