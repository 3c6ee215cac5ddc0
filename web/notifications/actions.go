package notifications

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/notificationsview"
	"kv-shepherd.io/shepherd/web/page"
)

// markRead is POST /notifications/:id/read. Someone else's id answers 404, exactly like
// an id that does not exist; marking an already read item again is harmless.
func (h *Handler) markRead(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	u := page.User(c)
	ctx := c.Request().Context()
	n, err := notify.MarkRead(ctx, h.Kit.Store.Ent, u.ID, id, h.now())
	if errors.Is(err, notify.ErrNotFound) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	back := backTarget(c.FormValue("back"))
	if !page.IsHTMX(c) {
		page.Flash(c, "success", "Marked “"+n.Title+"” as read.")
		return page.Redirect(c, back)
	}
	m, err := h.model(c, parseBack(back))
	if err != nil {
		return err
	}
	return page.OK(c, notificationsview.RowUpdate(item(n), m))
}

// markAllRead is POST /notifications/read-all.
func (h *Handler) markAllRead(c echo.Context) error {
	u := page.User(c)
	n, err := notify.MarkAllRead(c.Request().Context(), h.Kit.Store.Ent, u.ID, h.now())
	if err != nil {
		return err
	}
	f := views.Flash{Kind: "info", Message: "You have no unread notifications."}
	switch {
	case n == 1:
		f = views.Flash{Kind: "success", Message: "Marked 1 notification as read."}
	case n > 1:
		f = views.Flash{Kind: "success", Message: "Marked " + strconv.Itoa(n) + " notifications as read."}
	}
	back := backTarget(c.FormValue("back"))
	if !page.IsHTMX(c) {
		page.Flash(c, f.Kind, f.Message)
		return page.Redirect(c, back)
	}
	m, err := h.model(c, parseBack(back))
	if err != nil {
		return err
	}
	return page.OK(c, notificationsview.SectionUpdate(m, f))
}

// parseBack recovers the list the action was taken from, to re-render it under htmx.
func parseBack(back string) listQuery {
	u, err := url.Parse(back)
	if err != nil {
		return parseListQuery(nil)
	}
	return parseListQuery(u.Query())
}
