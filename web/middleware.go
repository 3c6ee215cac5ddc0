package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *handlers) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				h.d.Logger.Error("handler panicked", "request_id", page.RequestID(c), "path", c.Request().URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

func (h *handlers) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		ctx := audit.WithRequest(req.Context(), audit.Request{IP: page.ClientIP(c), UserAgent: req.UserAgent(), RequestID: page.RequestID(c)})
		// Every request counts its SQL statements: the log line says what a page costs,
		// and the statement budget tests hold the main pages to theirs.
		ctx, tally := db.WithTally(ctx)
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		if status == StatusClientClosedRequest {
			h.d.Logger.Info("client disconnected", "request_id", page.RequestID(c), "method", req.Method,
				"path", req.URL.Path, "route", c.Path(), "status", status, "duration_ms", time.Since(start).Milliseconds(),
				"ip", page.ClientIP(c), "user", page.Username(c))
			return nil
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		} else if status >= 400 {
			level = slog.LevelWarn
		}
		if strings.HasPrefix(req.URL.Path, "/static/") || strings.HasPrefix(req.URL.Path, "/health/") {
			level = slog.LevelDebug
		}
		counts := tally.Counts()
		// The statements themselves, when a request needed more than the five a page
		// should (or wrote on a read), before the request line: who waits for the line
		// (the budget tests) finds them already written.
		if (counts.Statements > 5 || (counts.Writes > 0 && page.IsSafeMethod(req.Method))) &&
			h.d.Logger.Enabled(req.Context(), slog.LevelDebug) {
			h.d.Logger.Debug("request statements", "request_id", page.RequestID(c), "sql", strings.Join(counts.SQL, " ;; "))
		}
		h.d.Logger.Log(req.Context(), level, "request", "request_id", page.RequestID(c), "method", req.Method,
			"path", req.URL.Path, "route", c.Path(), "status", status, "duration_ms", time.Since(start).Milliseconds(),
			"statements", counts.Statements, "writes", counts.Writes, "prepares", counts.Prepares,
			"db_us", counts.Wait.Microseconds(), "ip", page.ClientIP(c), "user", page.Username(c))
		return nil
	}
}

// securityHeaders sets a CSP without inline script, no framing, no sniffing, a strict
// referrer policy, and HSTS when served over TLS.
func (h *handlers) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	formAction := "'self'"
	if h.d.OIDC != nil && h.d.Config.OIDCIssuer != "" {
		if o := issuerOrigin(h.d.Config.OIDCIssuer); o != "" {
			formAction += " " + o
		}
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action " + formAction
	// The job UI (a third-party single-page app) sets styles inline; scripts stay 'self'.
	jobsCSP := strings.Replace(csp, "style-src 'self'", "style-src 'self' 'unsafe-inline'", 1)
	secure := h.d.Config.SecureCookies()
	return func(c echo.Context) error {
		hd := c.Response().Header()
		if strings.HasPrefix(c.Request().URL.Path, JobsPrefix) {
			hd.Set("Content-Security-Policy", jobsCSP)
		} else {
			hd.Set("Content-Security-Policy", csp)
		}
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if secure {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// sameOrigin protects the job UI, whose own JavaScript cannot send our CSRF token:
// unsafe requests must come from our origin, as the browser reports it.
func (h *handlers) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if page.IsSafeMethod(c.Request().Method) {
			return next(c)
		}
		r := c.Request()
		origin := r.Header.Get("Origin")
		site := r.Header.Get("Sec-Fetch-Site")
		if origin != h.d.Config.BaseURL && site != "same-origin" {
			h.d.Logger.Warn("cross-origin request refused", "request_id", page.RequestID(c), "path", r.URL.Path, "origin", origin)
			return echo.NewHTTPError(http.StatusForbidden, "This request did not come from Shepherd's own pages.")
		}
		return next(c)
	}
}
