package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/views"
)

func (h *handlers) loginModel(c echo.Context) views.Login {
	m := views.Login{
		LocalEnabled: h.d.Config.LocalLogin,
		OIDCEnabled:  h.d.OIDC != nil,
		OIDCName:     h.d.Config.OIDCProviderName,
		OIDCStartURL: "/auth/oidc/start?next=" + urlQuery(safeNext(c.QueryParam("next"))),
		FormAction:   "/login?next=" + urlQuery(safeNext(c.QueryParam("next"))),
		DevMode:      h.d.Config.DevMode,
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
func (h *handlers) adminStillDefault(ctx context.Context) bool {
	ok, err := h.d.Store.Ent.User.Query().Where(user.Username(seed.AdminUsername), user.ForcePasswordChange(true)).Exist(ctx)
	return err == nil && ok
}

func (h *handlers) loginPage(c echo.Context) error {
	if reqState(c).session.Values[auth.KeyUserID] != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return h.renderOK(c, views.LoginPage(h.withBareLayout(c, "Sign in"), h.loginModel(c)))
}

func (h *handlers) withBareLayout(c echo.Context, title string) views.Layout {
	l := h.layout(c, title, "")
	l.BareNav = true
	return l
}

func (h *handlers) loginLocal(c echo.Context) error {
	if !h.d.Config.LocalLogin {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	username := c.FormValue("username")
	password := c.FormValue("password")
	m := h.loginModel(c)
	m.Username = username
	if username == "" || password == "" {
		m.Error = "Enter your username and password."
		return h.render(c, http.StatusUnprocessableEntity, views.LoginPage(h.withBareLayout(c, "Sign in"), m))
	}
	u, err := h.d.Auth.LoginLocal(c.Request().Context(), username, password)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		m.Error = "The username or password is not correct."
		return h.render(c, http.StatusUnauthorized, views.LoginPage(h.withBareLayout(c, "Sign in"), m))
	}
	if err != nil {
		return err
	}
	return h.startSession(c, u, safeNext(c.QueryParam("next")))
}

// startSession rotates the session id (no fixation), binds it to the user and a fresh
// CSRF token, then redirects.
func (h *handlers) startSession(c echo.Context, u *ent.User, next string) error {
	st := reqState(c)
	if err := h.d.Sessions.Rotate(c.Request().Context(), st.session); err != nil {
		return err
	}
	for k := range st.session.Values {
		delete(st.session.Values, k)
	}
	st.session.Values[auth.KeyUserID] = u.ID.String()
	st.csrf = auth.RandomToken(32)
	st.session.Values[auth.KeyCSRF] = st.csrf
	if u.ForcePasswordChange {
		next = "/account/password"
	}
	if err := h.saveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (h *handlers) logout(c echo.Context) error {
	st := reqState(c)
	if err := h.d.Auth.Logout(c.Request().Context(), st.user); err != nil {
		return err
	}
	st.session.Options.MaxAge = -1
	if err := h.saveSession(c); err != nil {
		return err
	}
	return redirect(c, "/login?signed_out=1")
}
