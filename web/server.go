// Package web wires Echo: middleware, routes and thin handlers that parse input, call one
// use case and render a view model.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/static"
)

// Deps are everything the handlers use, built by the composition root.
type Deps struct {
	Config   *config.Config
	Logger   *slog.Logger
	Store    *db.Store
	Pool     *pgxpool.Pool
	Sessions *auth.SessionStore
	Auth     *auth.Service
	OIDC     *auth.OIDC // nil when OIDC sign-in is not configured
	// DevIssuer is the development OIDC provider, mounted at DevIssuerPath in dev mode only.
	DevIssuer     http.Handler
	DevIssuerPath string
	JobsUI        http.Handler // River UI, platform admins only
	Ready         func(ctx context.Context) error
	Registry      *prometheus.Registry
}

// JobsPrefix is where the River UI is mounted.
const JobsPrefix = "/admin/jobs"

// OIDCCallbackPath is the redirect URI registered at the IdP.
const OIDCCallbackPath = "/api/v1/auth/oidc/callback"

// New builds the Echo instance with every route.
func New(d *Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h := &handlers{d: d}
	e.HTTPErrorHandler = h.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()

	metrics := newHTTPMetrics(d.Registry)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return auth.RandomToken(12) }}))
	e.Use(metrics.middleware)
	e.Use(h.accessLog)
	e.Use(h.securityHeaders)
	e.Use(h.recoverPanics)
	e.Use(middleware.BodyLimit("2M"))

	e.GET("/health/live", h.live)
	e.GET("/health/ready", h.ready)
	e.GET("/metrics", echo.WrapHandler(metricsHandler(d.Registry)))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))

	if d.DevIssuer != nil {
		issuer := echo.WrapHandler(http.StripPrefix(d.DevIssuerPath, d.DevIssuer))
		e.Any(d.DevIssuerPath+"/*", issuer)
	}

	// Pages: session + CSRF for everyone; the app's pages also need a signed-in user.
	// Middleware is attached per route (not to a "" group) so unknown paths stay 404s.
	page := []echo.MiddlewareFunc{h.loadSession, h.csrf}
	signedIn := []echo.MiddlewareFunc{h.loadSession, h.csrf, h.requireUser}
	e.GET("/login", h.loginPage, page...)
	e.POST("/login", h.loginLocal, page...)
	e.GET("/auth/oidc/start", h.oidcStart, page...)
	e.GET(OIDCCallbackPath, h.oidcCallback, page...)

	e.POST("/logout", h.logout, signedIn...)
	e.GET("/account/password", h.passwordPage, signedIn...)
	e.POST("/account/password", h.changePassword, signedIn...)
	e.GET("/", h.dashboard, signedIn...)
	e.GET("/me/permissions", h.permissionsPage, signedIn...)
	e.GET("/api/v1/me/permissions", h.permissionsJSON, signedIn...)

	// Unknown paths render the 404 page in the visitor's own frame (navigation when signed in).
	e.RouteNotFound("/*", func(echo.Context) error { return echo.ErrNotFound }, h.loadSession, h.optionalUser)

	if d.JobsUI != nil {
		jobs := echo.WrapHandler(d.JobsUI)
		admin := e.Group(JobsPrefix, h.loadSession, h.sameOrigin, h.requireUser, h.requirePlatformAdmin)
		admin.Any("", jobs)
		admin.Any("/*", jobs)
	}
	return e
}

type handlers struct{ d *Deps }

// issuerOrigin is added to form-action so a sign-in redirect to the IdP is not blocked.
func issuerOrigin(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
