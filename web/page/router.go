package page

import "github.com/labstack/echo/v4"

// Router registers an area's routes with the right middleware chain.
type Router struct {
	E   *echo.Echo
	Kit *Kit
}

// Public routes get the session and CSRF checks (sign-in pages).
func (r *Router) Public(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	chain := append([]echo.MiddlewareFunc{r.Kit.LoadSession, r.Kit.CheckCSRF}, m...)
	r.E.Add(method, path, h, chain...)
}

// App routes also need a signed-in user (and the forced password change done); their
// changes count against the per-minute limits.
func (r *Router) App(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	chain := append([]echo.MiddlewareFunc{r.Kit.LoadSession, r.Kit.CheckCSRF, r.Kit.RequireUser, r.Kit.LimitChanges}, m...)
	r.E.Add(method, path, h, chain...)
}
