// Package web wires Echo: middleware, routes and thin handlers that parse input, call one
// use case and render a view model.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"kv-shepherd.io/shepherd/internal/access"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/internal/live"
	"kv-shepherd.io/shepherd/internal/policy"
	"kv-shepherd.io/shepherd/internal/ratelimit"
	"kv-shepherd.io/shepherd/internal/statussync"
	systemsuc "kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/static"
	"kv-shepherd.io/shepherd/web/admin"
	"kv-shepherd.io/shepherd/web/admin/idpadmin"
	"kv-shepherd.io/shepherd/web/approvals"
	"kv-shepherd.io/shepherd/web/auditlog"
	consoleweb "kv-shepherd.io/shepherd/web/console"
	"kv-shepherd.io/shepherd/web/events"
	"kv-shepherd.io/shepherd/web/home"
	"kv-shepherd.io/shepherd/web/notifications"
	"kv-shepherd.io/shepherd/web/page"
	"kv-shepherd.io/shepherd/web/requests"
	"kv-shepherd.io/shepherd/web/signin"
	"kv-shepherd.io/shepherd/web/systems"
	"kv-shepherd.io/shepherd/web/vms"
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
	// IdP runs the identity providers added in the portal and all providers' group mappings.
	IdP *idp.Service
	// DevIssuer is the development OIDC provider, mounted at DevIssuerPath in dev mode only.
	DevIssuer     http.Handler
	DevIssuerPath string
	JobsUI        http.Handler // River UI, platform admins only
	Ready         func(ctx context.Context) error
	// Watchers reports the cluster status watchers this process runs (readiness body).
	Watchers func() []statussync.State
	// IdentityProviders reports the OIDC providers' state (readiness body, never a reason
	// to be unready).
	IdentityProviders func() []auth.ProviderStatus
	Registry          *prometheus.Registry
	// Catalog runs the admin catalogues (namespaces, clusters, sizes, templates).
	Catalog    *catalog.Service
	Governance *governance.Service
	// Systems runs the System/Service/member use cases.
	Systems *systemsuc.Manager
	// The VM console: access decisions and records, the sessions' hub, and the
	// websocket upgrader that checks the Origin.
	ConsoleAccess   *console.Access
	ConsoleHub      *console.Hub
	ConsoleUpgrader *websocket.Upgrader
	// Live fans database changes out to the pages' event streams (GET /events).
	Live *live.Hub
	// Limits are the request and batch limits (nil: none).
	Limits *ratelimit.Limiter
}

// JobsPrefix is where the River UI is mounted.
const JobsPrefix = page.JobsPrefix

// OIDCCallbackPath is the redirect URI registered at the IdP.
const OIDCCallbackPath = signin.OIDCCallbackPath

// SignedOutPath is the post-logout redirect URI registered at the IdP.
const SignedOutPath = signin.SignedOutPath

// New builds the Echo instance with every route.
func New(d *Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h := &handlers{d: d}
	e.HTTPErrorHandler = h.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()

	metrics := newHTTPMetrics(d.Registry)
	e.Pre(cleanHeaders)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return auth.RandomToken(12) }}))
	e.Use(metrics.middleware)
	e.Use(h.accessLog)
	e.Use(h.securityHeaders)
	e.Use(h.recoverPanics)
	e.Use(middleware.BodyLimit("2M"))
	e.Use(h.storableInput)

	e.GET("/health/live", h.live)
	e.GET("/health/ready", h.ready)
	e.GET("/health/startup", h.startup)
	if d.Config.MetricsToken != "" {
		e.GET("/metrics", echo.WrapHandler(MetricsHandler(d.Registry)), bearer(d.Config.MetricsToken))
	}
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))

	if d.DevIssuer != nil {
		issuer := echo.WrapHandler(http.StripPrefix(d.DevIssuerPath, d.DevIssuer))
		e.Any(d.DevIssuerPath+"/*", issuer)
	}

	kit := &page.Kit{
		Config:      d.Config,
		Logger:      d.Logger,
		Store:       d.Store,
		Sessions:    d.Sessions,
		JobsEnabled: d.JobsUI != nil,
		Principals:  authz.NewCache(10000),
		Limits:      d.Limits,
	}
	h.kit = kit
	r := &page.Router{E: e, Kit: kit}
	(&signin.Handler{
		Kit:       kit,
		Auth:      d.Auth,
		OIDC:      d.OIDC,
		IdP:       d.IdP,
		DevIssuer: d.DevIssuer != nil,
	}).Register(r)

	(&home.Handler{Kit: kit, Gov: d.Governance}).Register(r)
	adminArea := &admin.Handler{
		Kit:      kit,
		Catalog:  d.Catalog,
		Consoles: d.ConsoleAccess,
		Policies: &policy.Service{Store: d.Store},
		Limits:   d.Limits,
		Access:   &access.Service{Store: d.Store},
	}
	adminArea.Register(r)
	if d.IdP != nil {
		(&idpadmin.Handler{Kit: kit, IdP: d.IdP, Nav: adminArea.Nav}).Register(r)
	}
	(&systems.Handler{Kit: kit, Systems: d.Systems}).Register(r)
	(&notifications.Handler{Kit: kit}).Register(r)
	if d.Live != nil {
		(&events.Handler{Kit: kit, Hub: d.Live}).Register(r)
	}
	(&auditlog.Handler{Kit: kit}).Register(r)
	reqs := &requests.Handler{Kit: kit, Gov: d.Governance}
	reqs.Register(r)
	(&approvals.Handler{Kit: kit, Gov: d.Governance, Requests: reqs}).Register(r)
	(&vms.Handler{Kit: kit, Gov: d.Governance}).Register(r)
	(&consoleweb.Handler{Kit: kit, Access: d.ConsoleAccess, Hub: d.ConsoleHub, Upgrader: d.ConsoleUpgrader,
		PendingRequest: reqs.PendingConsoleRequest}).Register(r)

	// Unknown paths render the 404 page in the visitor's own frame (navigation when signed in).
	e.RouteNotFound("/*", func(echo.Context) error { return echo.ErrNotFound }, kit.LoadSession, kit.OptionalUser)

	if d.JobsUI != nil {
		jobs := echo.WrapHandler(d.JobsUI)
		admin := e.Group(JobsPrefix, kit.LoadSession, h.sameOrigin, kit.RequireUser,
			page.RequirePermission(authz.PlatformAdmin, "The job queue is for platform administrators."))
		admin.Any("", jobs)
		admin.Any("/*", jobs)
	}
	return e
}

type handlers struct {
	d   *Deps
	kit *page.Kit
}

// issuerOrigin is added to form-action so a sign-in redirect to the IdP is not blocked.
func issuerOrigin(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
