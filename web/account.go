package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/views"
)

func (h *handlers) passwordModel(c echo.Context) views.Password {
	u := reqState(c).user
	return views.Password{Forced: u.ForcePasswordChange, External: u.AuthType != user.AuthTypeLocal, MinLength: password.MinLength}
}

func (h *handlers) passwordPage(c echo.Context) error {
	return h.renderOK(c, views.PasswordPage(h.layout(c, "Change password", ""), h.passwordModel(c)))
}

func (h *handlers) changePassword(c echo.Context) error {
	st := reqState(c)
	problems, err := h.d.Auth.ChangePassword(c.Request().Context(), st.user.ID, c.FormValue("current"), c.FormValue("new"), c.FormValue("confirm"))
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		m := h.passwordModel(c)
		m.Problems = problems
		return h.render(c, http.StatusUnprocessableEntity, views.PasswordPage(h.layout(c, "Change password", ""), m))
	}
	h.flash(c, "success", "Your password has been changed.")
	if err := h.saveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}
