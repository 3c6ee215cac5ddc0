// Package page is the toolkit every area of the portal uses: request state (session,
// user, permissions, CSRF token), the middleware that fills it, the page frame, flash
// messages, rendering and redirects. Areas (web/signin, web/home, ...) register their
// routes on a Router and never talk to Echo's middleware directly.
package page

import (
	"log/slog"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/ratelimit"
)

// Kit holds what the shared middleware and rendering need.
type Kit struct {
	Config   *config.Config
	Logger   *slog.Logger
	Store    *db.Store
	Sessions *auth.SessionStore
	// JobsEnabled shows the job UI in the navigation of platform admins.
	JobsEnabled bool
	// Principals caches who is asking, per user and authz version (nil: load every time).
	Principals *authz.Cache
	// Limits counts signed-in users' changes per minute (nil: no limits).
	Limits *ratelimit.Limiter
}

// SessionCookie is the name of the session cookie.
const SessionCookie = "shepherd_session"

// JobsPrefix is where the River UI is mounted.
const JobsPrefix = "/admin/jobs"

// State is what the middleware learns about a request.
type State struct {
	Session   *sessions.Session
	User      *ent.User
	Principal *authz.Principal
	CSRF      string
	// Sessions saves Session; flashes are the messages queued during this request.
	Sessions *auth.SessionStore
	flashes  []string
}

const stateKey = "shepherd.state"

// StateOf returns the request's state (empty for routes without the session middleware).
func StateOf(c echo.Context) *State {
	if s, ok := c.Get(stateKey).(*State); ok {
		return s
	}
	return &State{}
}

// User is the signed-in user (nil when anonymous).
func User(c echo.Context) *ent.User { return StateOf(c).User }

// Principal is the signed-in user's permissions (nil when anonymous: every check fails).
func Principal(c echo.Context) *authz.Principal { return StateOf(c).Principal }

// Username is for log lines.
func Username(c echo.Context) string {
	if u := User(c); u != nil {
		return u.Username
	}
	return ""
}

// RequestID is the id Echo assigned, also sent back in X-Request-Id.
func RequestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }
