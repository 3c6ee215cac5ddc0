package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	nextpath "kv-shepherd.io/shepherd/internal/redirect"
	"kv-shepherd.io/shepherd/views"
)

const sessionCookie = "shepherd_session"

// state is what the middleware learns about a request, kept on the Echo context.
type state struct {
	session   *sessions.Session
	user      *ent.User
	principal *authz.Principal
	csrf      string
}

const stateKey = "shepherd.state"

func reqState(c echo.Context) *state {
	if s, ok := c.Get(stateKey).(*state); ok {
		return s
	}
	return &state{}
}

func currentUsername(c echo.Context) string {
	if s := reqState(c); s.user != nil {
		return s.user.Username
	}
	return ""
}

// loadSession attaches the server-side session, issuing a CSRF token when it has none.
// A cookie with a bad signature is logged as tampering and replaced by a fresh session.
func (h *handlers) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := h.d.Sessions.Get(c.Request(), sessionCookie)
		if errors.Is(err, auth.ErrInvalidCookie) {
			h.d.Logger.Warn("tampered or foreign session cookie ignored", "request_id", requestID(c), "ip", clientIP(c))
		} else if err != nil {
			return err
		}
		st := &state{session: sess}
		c.Set(stateKey, st)
		dirty := false
		if expired, _ := sess.Values[auth.KeyExpired].(bool); expired {
			delete(sess.Values, auth.KeyExpired)
			sess.AddFlash("info|Your session has ended. Please sign in again.")
			dirty = true
		}
		tok, _ := sess.Values[auth.KeyCSRF].(string)
		if tok == "" {
			tok = auth.RandomToken(32)
			sess.Values[auth.KeyCSRF] = tok
			dirty = true
		}
		st.csrf = tok
		if dirty || h.d.Sessions.NeedsTouch(sess) {
			if err := h.saveSession(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func (h *handlers) saveSession(c echo.Context) error {
	st := reqState(c)
	if st.session == nil {
		return nil
	}
	return st.session.Save(c.Request(), c.Response())
}

// csrf checks the session's token on every unsafe method, from the X-CSRF-Token header
// (htmx sends it from hx-headers) or the csrf_token form field.
func (h *handlers) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSafeMethod(c.Request().Method) {
			return next(c)
		}
		want := reqState(c).csrf
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("csrf_token")
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			h.d.Logger.Warn("CSRF check failed", "request_id", requestID(c), "path", c.Request().URL.Path,
				"ip", clientIP(c), "token_sent", got != "")
			return echo.NewHTTPError(http.StatusForbidden, csrfMessage)
		}
		return next(c)
	}
}

const csrfMessage = "This form has expired or did not come from Shepherd. Reload the page and try again."

// flash queues a message for the next page.
func (h *handlers) flash(c echo.Context, kind, msg string) {
	if s := reqState(c).session; s != nil {
		s.AddFlash(kind + "|" + msg)
	}
}

func popFlashes(c echo.Context) []views.Flash {
	s := reqState(c).session
	if s == nil {
		return nil
	}
	var out []views.Flash
	for _, f := range s.Flashes() {
		str, _ := f.(string)
		kind, msg, ok := strings.Cut(str, "|")
		if !ok {
			kind, msg = "info", str
		}
		out = append(out, views.Flash{Kind: kind, Message: msg})
	}
	return out
}

// safeNext accepts only local paths, so ?next= cannot send people to another site.
func safeNext(next string) string { return nextpath.LocalPath(next) }

// redirect answers a full redirect, or HX-Redirect for htmx requests.
func redirect(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}
