package page

import (
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/auth"
)

// PeekUser is the signed-in user of a live session, or nil, read without touching the
// session: for requests a page makes by itself (an event stream, a badge), which must not
// count as activity or an open tab would keep an idle session alive forever. Users who
// must change their password first get nil.
func (k *Kit) PeekUser(c echo.Context) *ent.User {
	sess, err := k.Sessions.Get(c.Request(), SessionCookie)
	if err != nil || sess.IsNew {
		return nil
	}
	raw, _ := sess.Values[auth.KeyUserID].(string)
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil
	}
	u, err := k.Store.Ent.User.Get(c.Request().Context(), id)
	if err != nil || u.Disabled || u.ForcePasswordChange {
		return nil
	}
	return u
}
