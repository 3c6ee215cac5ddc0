package web

import (
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
)

// requireUser loads the signed-in user and their permissions once per request. Anonymous
// visitors go to the sign-in page; a user who must change their password can reach
// nothing else (but may sign out).
func (h *handlers) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := reqState(c)
		ctx := c.Request().Context()
		raw, _ := st.session.Values[auth.KeyUserID].(string)
		id, err := uuid.Parse(raw)
		if err == nil {
			u, err := h.d.Store.Ent.User.Get(ctx, id)
			if err == nil && !u.Disabled {
				st.user = u
			}
		}
		if st.user == nil {
			return redirect(c, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		p, err := authz.Load(ctx, h.d.Store.Ent, st.user.ID, st.user.Username)
		if err != nil {
			return err
		}
		st.principal = p
		if st.user.ForcePasswordChange {
			path := c.Path()
			if path != "/account/password" && path != "/logout" {
				return redirect(c, "/account/password")
			}
		}
		return next(c)
	}
}

// optionalUser loads the user when there is one, for pages that anyone may see.
func (h *handlers) optionalUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := reqState(c)
		raw, _ := st.session.Values[auth.KeyUserID].(string)
		if id, err := uuid.Parse(raw); err == nil {
			ctx := c.Request().Context()
			if u, err := h.d.Store.Ent.User.Get(ctx, id); err == nil && !u.Disabled {
				if p, err := authz.Load(ctx, h.d.Store.Ent, u.ID, u.Username); err == nil {
					st.user, st.principal = u, p
				}
			}
		}
		return next(c)
	}
}

func (h *handlers) requirePlatformAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !reqState(c).principal.IsPlatformAdmin() {
			return echo.NewHTTPError(http.StatusForbidden, "The job queue is for platform administrators.")
		}
		return next(c)
	}
}
