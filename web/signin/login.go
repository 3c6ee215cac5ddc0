package signin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) loginModel(c echo.Context) views.Login {
	m := views.Login{
		LocalEnabled: h.Kit.Config.LocalLogin,
		OIDCEnabled:  h.OIDC != nil,
		OIDCName:     h.Kit.Config.OIDCProviderName,
		OIDCStartURL: "/auth/oidc/start?next=" + urlQuery(page.SafeNext(c.QueryParam("next"))),
		FormAction:   "/login?next=" + urlQuery(page.SafeNext(c.QueryParam("next"))),
		DevMode:      h.Kit.Config.DevMode,
		DevIssuer:    h.DevIssuer,
	}
	if h.IdP != nil {
		buttons, err := h.IdP.SignInButtons(c.Request().Context())
		if err != nil {
			h.Kit.Logger.Error("identity providers not listed on the sign-in page", "err", err)
		}
		for _, b := range buttons {
			m.Providers = append(m.Providers, views.LoginProvider{Key: b.Key, Label: b.Label,
				StartURL: "/auth/idp/" + urlQuery(b.Key) + "/start?next=" + urlQuery(page.SafeNext(c.QueryParam("next")))})
		}
	}
	if c.QueryParam("signed_out") == "1" {
		m.Notice = "You have signed out."
	}
	if m.LocalEnabled {
		m.FirstRunHint = h.adminStillDefault(c.Request().Context())
	}
	return m
}

// adminStillDefault tells the sign-in page to show the first-run hint.
func (h *Handler) adminStillDefault(ctx context.Context) bool {
	ok, err := h.Kit.Store.Ent.User.Query().Where(user.Username(seed.AdminUsername), user.ForcePasswordChange(true)).Exist(ctx)
	return err == nil && ok
}

func (h *Handler) loginPage(c echo.Context) error {
	if page.StateOf(c).Session.Values[auth.KeyUserID] != nil {
		return c.Redirect(http.StatusSeeOther, page.SafeNext(c.QueryParam("next")))
	}
	return page.OK(c, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), h.loginModel(c)))
}

func (h *Handler) withBareLayout(c echo.Context, title string) views.Layout {
	l := h.Kit.Layout(c, title, "")
	l.BareNav = true
	return l
}

func (h *Handler) loginLocal(c echo.Context) error {
	if !h.Kit.Config.LocalLogin {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	username := c.FormValue("username")
	password := c.FormValue("password")
	m := h.loginModel(c)
	m.Username = username
	if username == "" || password == "" {
		m.Error = "Enter your username and password."
		return page.Render(c, http.StatusUnprocessableEntity, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	u, err := h.Auth.LoginLocal(c.Request().Context(), username, password, page.ClientIP(c))
	if te := throttled(c, err); te != nil {
		m.Error = te.Message()
		return page.Render(c, http.StatusTooManyRequests, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	if errors.Is(err, auth.ErrAccountDisabled) {
		m.Error = auth.DisabledMessage
		return page.Render(c, http.StatusForbidden, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		m.Error = "The username or password is not correct."
		return page.Render(c, http.StatusUnauthorized, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
	}
	if err != nil {
		return err
	}
	return h.startSession(c, u, page.SafeNext(c.QueryParam("next")), nil)
}

// startSession rotates the session id (no fixation), binds it to the user and a fresh
// CSRF token, then redirects.
func (h *Handler) startSession(c echo.Context, u *ent.User, next string, keep map[string]string) error {
	st := page.StateOf(c)
	if err := h.Kit.Sessions.Rotate(c.Request().Context(), st.Session); err != nil {
		return err
	}
	for k := range st.Session.Values {
		delete(st.Session.Values, k)
	}
	st.Session.Values[auth.KeyUserID] = u.ID.String()
	for k, v := range keep {
		st.Session.Values[k] = v
	}
	st.CSRF = auth.RandomToken(32)
	st.Session.Values[auth.KeyCSRF] = st.CSRF
	if u.ForcePasswordChange {
		next = "/account/password"
	}
	if err := page.SaveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// Session values of an OIDC sign-in, kept server-side in the session's row (the cookie
// holds only its id): the provider it came from and the raw ID token, the
// id_token_hint of the provider's sign-out.
const (
	keySessionProvider = "oidc_session_provider"
	keySessionIDToken  = "oidc_session_id_token"
)

// logout ends the Shepherd session and, for an IdP user whose provider advertises an
// end_session_endpoint, sends the browser there (RP-initiated logout) to end the
// provider's session too; it comes back to SignedOutPath. Without one, the signed-out
// page says the provider's session may still be open.
func (h *Handler) logout(c echo.Context) error {
	st := page.StateOf(c)
	if err := h.Auth.Logout(c.Request().Context(), st.User); err != nil {
		return err
	}
	target := "/login?signed_out=1"
	if st.User.AuthType == user.AuthTypeOidc {
		target = SignedOutPath + "?idp_session=open"
		idToken, _ := st.Session.Values[keySessionIDToken].(string)
		provider, _ := st.Session.Values[keySessionProvider].(string)
		if provider == "" {
			provider = auth.DefaultProviderName
		}
		if rp, err := h.relyingParty(c.Request().Context(), provider); err == nil {
			ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
			if u := rp.EndSessionURL(ctx, idToken, h.Kit.Config.BaseURL+SignedOutPath); u != "" {
				target = u
			}
			cancel()
		}
	}
	st.Session.Options.MaxAge = -1
	if err := page.SaveSession(c); err != nil {
		return err
	}
	return page.Redirect(c, target)
}

// signedOut is where the browser lands after signing out (also back from the provider).
func (h *Handler) signedOut(c echo.Context) error {
	if page.StateOf(c).Session.Values[auth.KeyUserID] != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	m := h.loginModel(c)
	m.Notice = "You have signed out."
	if c.QueryParam("idp_session") == "open" {
		m.Notice = "You have signed out of Shepherd. Your session at " + h.Kit.Config.OIDCProviderName +
			" may still be open: sign out there too if others use this computer."
	}
	return page.OK(c, views.LoginPage(h.Kit.BareLayout(c, "Signed out"), m))
}
