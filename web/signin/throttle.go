package signin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

// throttled recognises a refusal of the sign-in throttle and sets Retry-After for it.
func throttled(c echo.Context, err error) *auth.ThrottledError {
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		return nil
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(te.RetryAfter()))
	return te
}

// loginRefused shows the sign-in page with the wait (429) when err is the throttle's;
// any other error is a server error.
func (h *Handler) loginRefused(c echo.Context, err error) error {
	te := throttled(c, err)
	if te == nil {
		return err
	}
	m := h.loginModel(c)
	m.Error = te.Message()
	return page.Render(c, http.StatusTooManyRequests, views.LoginPage(h.Kit.BareLayout(c, "Sign in"), m))
}
