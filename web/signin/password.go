package signin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) passwordModel(c echo.Context) views.Password {
	u := page.User(c)
	return views.Password{Forced: u.ForcePasswordChange, External: u.AuthType != user.AuthTypeLocal, MinLength: password.MinLength}
}

func (h *Handler) passwordPage(c echo.Context) error {
	return page.OK(c, views.PasswordPage(h.Kit.Layout(c, "Change password", ""), h.passwordModel(c)))
}

func (h *Handler) changePassword(c echo.Context) error {
	st := page.StateOf(c)
	problems, err := h.Auth.ChangePassword(c.Request().Context(), st.User.ID, c.FormValue("current"), c.FormValue("new"), c.FormValue("confirm"))
	status := http.StatusUnprocessableEntity
	if te := throttled(c, err); te != nil {
		problems, status, err = []string{te.Message()}, http.StatusTooManyRequests, nil
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		m := h.passwordModel(c)
		m.Problems = problems
		return page.Render(c, status, views.PasswordPage(h.Kit.Layout(c, "Change password", ""), m))
	}
	page.Flash(c, "success", "Your password has been changed.")
	if err := page.SaveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}
