package page

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/views"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// Layout builds the page frame for the current user; flashes are consumed here.
func (k *Kit) Layout(c echo.Context, title, active string) views.Layout {
	st := StateOf(c)
	l := views.Layout{Title: title, Active: active, CSRF: st.CSRF, Flashes: k.popFlashes(c), DevMode: k.Config.DevMode}
	if st.User != nil {
		name := DisplayName(st.User.DisplayName, st.User.Username)
		l.User = &views.User{Username: st.User.Username, DisplayName: name, Initials: Initials(name), Forced: st.User.ForcePasswordChange}
		l.BareNav = st.User.ForcePasswordChange
		l.Nav = NavFor(st.Principal, k.JobsEnabled)
		if !l.BareNav {
			l.Unread = k.unreadCount(c, st.User.ID)
		}
	}
	return l
}

// unreadCount feeds the bell. A failure costs the number, not the page. A read (GET)
// uses the number the session's statement brought along; a request that changes things
// (which may be notifications) counts afresh.
func (k *Kit) unreadCount(c echo.Context, userID uuid.UUID) int {
	if st := StateOf(c); st.Session != nil && IsSafeMethod(c.Request().Method) {
		if u := auth.SessionUser(st.Session); u != nil && u.ID == userID {
			if n, ok := auth.SessionUnread(st.Session); ok {
				return n
			}
		}
	}
	n, err := notify.UnreadCount(c.Request().Context(), k.Store.Ent, userID)
	if err != nil {
		k.Logger.Warn("unread notification count failed", "request_id", RequestID(c), "err", err)
		return 0
	}
	return n
}

// BareLayout is the frame without navigation (sign-in pages).
func (k *Kit) BareLayout(c echo.Context, title string) views.Layout {
	l := k.Layout(c, title, "")
	l.BareNav = true
	return l
}

// DisplayName prefers the person's name over the account name.
func DisplayName(display, username string) string {
	if display != "" {
		return display
	}
	return username
}

// Initials are shown in the avatar.
func Initials(name string) string {
	var out []rune
	for _, f := range strings.Fields(name) {
		for _, r := range f {
			out = append(out, r)
			break
		}
		if len(out) == 2 {
			break
		}
	}
	return strings.ToUpper(string(out))
}

// Render writes a component with status, saving the session first (flashes consumed).
// The page is rendered into a pooled buffer and sent in one write with its length: a
// page streamed straight into the response went out in a chunked write per 4 KB (the
// profile had those system calls at a tenth of a list page's CPU), and a failure while
// rendering now answers an error instead of half a page.
func Render(c echo.Context, status int, comp templ.Component) error {
	if err := SaveSession(c); err != nil {
		return err
	}
	buf := renderBuffers.Get().(*bytes.Buffer)
	defer putRenderBuffer(buf)
	buf.Reset()
	ctx := c.Request().Context()
	if status >= http.StatusBadRequest {
		ctx = views.Failed(ctx) // titled "Error: …"
	}
	if err := comp.Render(ctx, buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("Cache-Control", "no-store")
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putRenderBuffer returns a buffer to the pool unless one huge page made it too big to
// keep around.
func putRenderBuffer(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		renderBuffers.Put(b)
	}
}

// OK renders with 200.
func OK(c echo.Context, comp templ.Component) error { return Render(c, http.StatusOK, comp) }

// IsHTMX reports an htmx request.
func IsHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }
