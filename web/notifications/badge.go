package notifications

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

// badge is GET /notifications/badge, polled by the bell every 30 s. It reads the session
// without saving it, so polling neither extends the idle timeout nor creates sessions.
// Anyone without a live session (or with nothing new: n= equals the count) gets 204,
// which htmx leaves unswapped.
func (h *Handler) badge(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	u := h.peekUser(c)
	if u == nil {
		return c.NoContent(http.StatusNoContent)
	}
	n, err := h.unread(c, u)
	if err != nil {
		return err
	}
	if seen, err := strconv.Atoi(c.QueryParam("n")); err == nil && seen == n {
		return c.NoContent(http.StatusNoContent)
	}
	return page.OK(c, views.NotificationBell(n))
}

// peekUser is the signed-in user of a live session, or nil. Users who must change their
// password first see no bell, so they get none here either.
func (h *Handler) peekUser(c echo.Context) *ent.User {
	sess, err := h.Kit.Sessions.Get(c.Request(), page.SessionCookie)
	if err != nil || sess.IsNew {
		return nil
	}
	raw, _ := sess.Values[auth.KeyUserID].(string)
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil
	}
	u := auth.SessionUser(sess) // read with the session's row
	if u == nil || u.ID != id {
		if u, err = h.Kit.Store.Ent.User.Get(c.Request().Context(), id); err != nil {
			return nil
		}
	}
	if u.Disabled || u.ForcePasswordChange {
		return nil
	}
	return u
}

// unread is the user's unread count, as read with the session's row when it was.
func (h *Handler) unread(c echo.Context, u *ent.User) (int, error) {
	if sess, err := h.Kit.Sessions.Get(c.Request(), page.SessionCookie); err == nil {
		if su := auth.SessionUser(sess); su != nil && su.ID == u.ID {
			if n, ok := auth.SessionUnread(sess); ok {
				return n, nil
			}
		}
	}
	return notify.UnreadCount(c.Request().Context(), h.Kit.Store.Ent, u.ID)
}
