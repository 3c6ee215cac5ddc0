package web

import (
	"context"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (h *handlers) live(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// startup answers once the process serves at all: the listener opens only after the
// migrations ran and River started, so a slow migration keeps a startup probe waiting
// instead of failing liveness.
func (h *handlers) startup(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "started"})
}

// readiness is /health/ready's body: the verdict on the database and River, and the
// cluster watchers this process runs — reported, never a reason to be unready, so one
// unreachable cluster does not take every replica out of the load balancer.
type readiness struct {
	Status   string          `json:"status"`
	Reason   string          `json:"reason,omitempty"`
	Watchers []watcherReport `json:"watchers"`
	// IdentityProviders: whether sign-in through each OIDC provider can work. Like the
	// watchers, reported and never a reason to be unready (a misconfigured IdP is fixed
	// in the settings, not by taking replicas out of the load balancer).
	IdentityProviders []idpReport `json:"identity_providers"`
}

type idpReport struct {
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	// State: unchecked, ok, unreachable or misconfigured.
	State     string     `json:"state"`
	Setting   string     `json:"setting,omitempty"` // the setting to fix when misconfigured
	Error     string     `json:"error,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
}

type watcherReport struct {
	Cluster string `json:"cluster"`
	Healthy bool   `json:"healthy"`
	// StaleSeconds is the time since the last list, event or heartbeat (-1: none yet).
	StaleSeconds float64 `json:"stale_seconds"`
	LastError    string  `json:"last_error,omitempty"`
}

// ready answers 503 with the failing check when the database or River is not usable.
func (h *handlers) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	body := readiness{Status: "ok", Watchers: []watcherReport{}, IdentityProviders: []idpReport{}}
	if h.d.IdentityProviders != nil {
		for _, p := range h.d.IdentityProviders() {
			r := idpReport{Name: p.Name, Issuer: p.Issuer, State: p.State, Setting: p.Setting, Error: p.Error}
			if !p.CheckedAt.IsZero() {
				at := p.CheckedAt.UTC()
				r.CheckedAt = &at
			}
			body.IdentityProviders = append(body.IdentityProviders, r)
		}
	}
	if h.d.Watchers != nil {
		now := time.Now()
		for _, w := range h.d.Watchers() {
			r := watcherReport{Cluster: w.Name, Healthy: w.Healthy, StaleSeconds: -1, LastError: w.LastError}
			if !w.LastHeartbeat.IsZero() {
				r.StaleSeconds = math.Round(now.Sub(w.LastHeartbeat).Seconds()*10) / 10
			}
			body.Watchers = append(body.Watchers, r)
		}
	}
	if err := h.d.Ready(ctx); err != nil {
		if clientGone(c, err) {
			return err // the prober hung up: says nothing about the database
		}
		h.d.Logger.Warn("not ready", "err", err)
		body.Status, body.Reason = "unavailable", err.Error()
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}

type httpMetrics struct{ duration *prometheus.HistogramVec }

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shepherd_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "status"})}
	reg.MustRegister(m.duration)
	return m
}

func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched" // keeps label cardinality bounded for 404 scans
		}
		m.duration.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Observe(time.Since(start).Seconds())
		return err
	}
}

// MetricsHandler serves the registry in Prometheus' format. The app serves it on its own
// listen address (SHEPHERD_METRICS_ADDR); the portal's address has it only behind a token.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// bearer admits requests carrying the token; others get 404, as if there were no route.
func bearer(token string) echo.MiddlewareFunc {
	want := []byte("Bearer " + token)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got := []byte(c.Request().Header.Get(echo.HeaderAuthorization))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				return echo.ErrNotFound
			}
			return next(c)
		}
	}
}
