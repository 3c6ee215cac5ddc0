package signin

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

const (
	keyOIDCState    = "oidc_state"
	keyOIDCNonce    = "oidc_nonce"
	keyOIDCVerifier = "oidc_verifier"
	keyOIDCNext     = "oidc_next"
	// keyOIDCProvider names the provider that started the sign-in: only it may finish it.
	keyOIDCProvider = "oidc_provider"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// oidcStart keeps state, nonce and the PKCE verifier in the visitor's session (the signed
// cookie: nothing is written before sign-in) and sends the browser to the IdP.
func (h *Handler) oidcStart(c echo.Context) error {
	return h.startWith(c, auth.DefaultProviderName)
}

// idpStart starts a sign-in through a provider added in the portal.
func (h *Handler) idpStart(c echo.Context) error {
	key := c.Param("key")
	if key == auth.DefaultProviderName {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return h.startWith(c, key)
}

// relyingParty finds the enabled provider named key: "default" is the one configured
// from settings; others are read from the database (so a provider disabled on another
// replica is refused here at once).
func (h *Handler) relyingParty(ctx context.Context, key string) (*auth.OIDC, error) {
	if h.IdP != nil {
		rp, _, err := h.IdP.RelyingParty(ctx, key)
		return rp, err
	}
	if key == auth.DefaultProviderName && h.OIDC != nil {
		return h.OIDC, nil
	}
	return nil, idp.ErrNoProvider
}

func (h *Handler) startWith(c echo.Context, key string) error {
	rp, err := h.relyingParty(c.Request().Context(), key)
	if errors.Is(err, idp.ErrNoProvider) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	target, p, err := rp.Start(c.Request().Context())
	if err != nil {
		reason := "idp_unreachable"
		status := http.StatusBadGateway
		if auth.Misconfigured(err) {
			reason, status = "misconfigured", http.StatusServiceUnavailable
		} else {
			h.Kit.Logger.Error("OIDC provider unreachable", "request_id", page.RequestID(c), "provider", rp.Name(), "err", err)
		}
		m := h.loginModel(c)
		m.Error = loginFailureMessage(reason)
		return page.Render(c, status, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	s := page.StateOf(c).Session
	s.Values[keyOIDCProvider] = p.Provider
	s.Values[keyOIDCState] = p.State
	s.Values[keyOIDCNonce] = p.Nonce
	s.Values[keyOIDCVerifier] = p.Verifier
	s.Values[keyOIDCNext] = page.SafeNext(c.QueryParam("next"))
	if err := page.SaveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, target)
}

// oidcCallback completes the sign-in. The pending values are removed from the session
// before anything else, and that removal goes out with whatever this request answers (the
// error page, or the new signed-in session), so the browser cannot use them twice; a
// replayed code is refused by the IdP, which redeems each code once.
func (h *Handler) oidcCallback(c echo.Context) error {
	if h.OIDC == nil && h.IdP == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	s := page.StateOf(c).Session
	str := func(k string) string { v, _ := s.Values[k].(string); return v }
	pending := auth.Pending{Provider: str(keyOIDCProvider), State: str(keyOIDCState), Nonce: str(keyOIDCNonce), Verifier: str(keyOIDCVerifier)}
	next := page.SafeNext(str(keyOIDCNext))
	for _, k := range []string{keyOIDCProvider, keyOIDCState, keyOIDCNonce, keyOIDCVerifier, keyOIDCNext} {
		delete(s.Values, k)
	}
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	if err := h.Auth.CheckOIDCCallback(ctx, page.ClientIP(c)); err != nil {
		return h.loginRefused(c, err)
	}
	// The provider that started the sign-in finishes it: its own issuer, client and keys
	// verify the token, so a token from another provider is never accepted.
	key := pending.Provider
	if key == "" {
		key = auth.DefaultProviderName
	}
	rp, err := h.relyingParty(ctx, key)
	switch {
	case errors.Is(err, idp.ErrNoProvider) && pending.State == "":
		err = &auth.LoginError{Reason: "no_pending_login"}
	case errors.Is(err, idp.ErrNoProvider):
		// Deleted or disabled since the sign-in started: its answer is not accepted.
		err = &auth.LoginError{Reason: "provider_unavailable"}
	case err != nil:
		return err
	}
	var id auth.Identity
	if err == nil {
		id, err = rp.Finish(ctx, pending, q.Get("state"), q.Get("code"), q.Get("error"))
	}
	if err != nil {
		var le *auth.LoginError
		reason := "internal_error"
		if errors.As(err, &le) {
			reason = le.Reason
		}
		h.Kit.Logger.Warn("OIDC sign-in failed", "request_id", page.RequestID(c), "reason", reason, "err", err)
		if err := h.Auth.OIDCCallbackFailed(ctx, page.ClientIP(c), reason); err != nil {
			return h.loginRefused(c, err)
		}
		m := h.loginModel(c)
		m.Error = loginFailureMessage(reason)
		status := http.StatusUnauthorized
		switch reason {
		case "misconfigured":
			status = http.StatusServiceUnavailable
		case "idp_unreachable":
			status = http.StatusBadGateway
		}
		return page.Render(c, status, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	u, err := h.Auth.LoginOIDC(ctx, id)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		m := h.loginModel(c)
		m.Error = auth.DisabledMessage
		return page.Render(c, http.StatusForbidden, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	if err != nil {
		return err
	}
	if notice := auth.GroupsNotice(id.GroupsProblem, rp.GroupsClaim()); notice != "" {
		page.Flash(c, "warning", notice)
	}
	return h.startSession(c, u, next, map[string]string{
		keySessionProvider: rp.Name(),
		keySessionIDToken:  id.IDToken,
	})
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
	case "misconfigured":
		return "Sign-in is misconfigured — tell your administrator. (Trying again will not help until the settings are fixed.)"
	case "provider_unavailable":
		return "The identity provider this sign-in was started with is no longer available. Please sign in again."
	case "provider_mismatch":
		return "This sign-in was started with another identity provider. Please sign in again."
	default:
		return "The identity provider's answer could not be verified, so you were not signed in. Please try again; if it keeps happening, contact a platform administrator."
	}
}
