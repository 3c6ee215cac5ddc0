package page

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/redirect"
	"kv-shepherd.io/shepherd/views"
)

// LoadSession attaches the session, issuing a CSRF token when it has none. A cookie with a
// bad signature is logged as tampering and replaced by a fresh session. Nothing is written
// here: a signed-in session's last-seen time is touched at most once a minute, and any
// change (a new token, a flash) is saved with the response, in its single Set-Cookie.
func (k *Kit) LoadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := k.Sessions.Get(c.Request(), SessionCookie)
		if errors.Is(err, auth.ErrInvalidCookie) {
			k.Logger.Warn("tampered or foreign session cookie ignored", "request_id", RequestID(c), "ip", ClientIP(c))
		} else if err != nil {
			return err
		}
		st := &State{Session: sess, Sessions: k.Sessions}
		c.Set(stateKey, st)
		if expired, _ := sess.Values[auth.KeyExpired].(bool); expired {
			delete(sess.Values, auth.KeyExpired)
			if disabled, _ := sess.Values[auth.KeyDisabled].(bool); disabled {
				delete(sess.Values, auth.KeyDisabled)
				st.flashes = append(st.flashes, "error|"+auth.DisabledMessage)
			} else {
				st.flashes = append(st.flashes, "info|Your session has ended. Please sign in again.")
			}
		}
		tok, _ := sess.Values[auth.KeyCSRF].(string)
		if tok == "" {
			tok = auth.RandomToken(32)
			sess.Values[auth.KeyCSRF] = tok
		}
		st.CSRF = tok
		if err := k.Sessions.Touch(c.Request().Context(), sess); err != nil {
			return err
		}
		return next(c)
	}
}

// SaveSession writes what changed in the session, and the flashes queued by the handler
// (call before writing the response).
func SaveSession(c echo.Context) error {
	st := StateOf(c)
	if st.Session == nil || st.Sessions == nil {
		return nil
	}
	flashes := st.flashes
	st.flashes = nil
	return st.Sessions.SaveWithFlashes(c.Request(), c.Response(), st.Session, flashes)
}

// CSRFMessage is shown when the token check fails.
const CSRFMessage = "This form has expired or did not come from Shepherd. Reload the page and try again."

// CheckCSRF checks the session's token on every unsafe method, from the X-CSRF-Token
// header (htmx sends it from hx-headers) or the csrf_token form field.
func (k *Kit) CheckCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if IsSafeMethod(c.Request().Method) {
			return next(c)
		}
		want := StateOf(c).CSRF
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("csrf_token")
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			k.Logger.Warn("CSRF check failed", "request_id", RequestID(c), "path", c.Request().URL.Path,
				"ip", ClientIP(c), "token_sent", got != "")
			return echo.NewHTTPError(http.StatusForbidden, CSRFMessage)
		}
		return next(c)
	}
}

// RequireUser loads the signed-in user and their permissions once per request. Anonymous
// visitors go to the sign-in page; a user who must change their password can reach
// nothing else (but may sign out).
func (k *Kit) RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := k.loadUser(c); err != nil {
			return err
		}
		st := StateOf(c)
		if st.User == nil {
			return Redirect(c, "/login?next="+urlQueryEscape(c.Request().URL.RequestURI()))
		}
		if st.User.ForcePasswordChange {
			if p := c.Path(); p != "/account/password" && p != "/logout" {
				return Redirect(c, "/account/password")
			}
		}
		return next(c)
	}
}

// OptionalUser loads the user when there is one, for pages anyone may see.
func (k *Kit) OptionalUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := k.loadUser(c); err != nil {
			return err
		}
		return next(c)
	}
}

func (k *Kit) loadUser(c echo.Context) error {
	st := StateOf(c)
	if st.Session == nil {
		return nil
	}
	raw, _ := st.Session.Values[auth.KeyUserID].(string)
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil
	}
	ctx := c.Request().Context()
	// The session store read the user with the session's row (one statement for both).
	u := auth.SessionUser(st.Session)
	if u == nil || u.ID != id {
		if u, err = k.Store.Ent.User.Get(ctx, id); err != nil {
			return nil
		}
	}
	if u.Disabled {
		return nil
	}
	p, err := k.Principals.Principal(ctx, k.Store.Ent, u)
	if err != nil {
		return err
	}
	st.User, st.Principal = u, p
	return nil
}

// RequirePermission refuses users without perm (in any environment) with 403.
func RequirePermission(perm, message string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !Principal(c).Has(perm) {
				return echo.NewHTTPError(http.StatusForbidden, message)
			}
			return next(c)
		}
	}
}

// Flash queues a message for the next page (saved with the session).
func Flash(c echo.Context, kind, msg string) {
	if st := StateOf(c); st.Session != nil {
		st.flashes = append(st.flashes, kind+"|"+msg)
	}
}

// popFlashes takes the messages waiting for this page: the session's queue, then those
// queued during this request. A failure to read them costs the messages, not the page.
func (k *Kit) popFlashes(c echo.Context) []views.Flash {
	st := StateOf(c)
	if st.Session == nil || st.Sessions == nil {
		return nil
	}
	queued, err := st.Sessions.PopFlashes(c.Request().Context(), st.Session)
	if err != nil {
		k.Logger.Warn("flash messages not read", "request_id", RequestID(c), "err", err)
	}
	queued = append(queued, st.flashes...)
	st.flashes = nil
	var out []views.Flash
	for _, str := range queued {
		kind, msg, ok := strings.Cut(str, "|")
		if !ok {
			kind, msg = "info", str
		}
		out = append(out, views.Flash{Kind: kind, Message: msg})
	}
	return out
}

// SafeNext accepts only local paths, so ?next= cannot send people to another site.
func SafeNext(next string) string { return redirect.LocalPath(next) }

// Redirect answers 303, or HX-Redirect for htmx requests. It saves the session first,
// so flashes queued by the handler survive.
func Redirect(c echo.Context, to string) error {
	if err := SaveSession(c); err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// IsSafeMethod reports methods that must not change state.
func IsSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// ClientIP is the peer address (Shepherd does not trust forwarding headers by default).
func ClientIP(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}
