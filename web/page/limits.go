package page

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/ratelimit"
)

// RateLimitsPath is the admin page of the limits; platform admins' changes there are
// never refused, so a limit set too low can always be undone.
const RateLimitsPath = "/admin/rate-limits"

// LimitChanges counts each change (a non-GET request) of a signed-in user against the
// per-minute limits and answers 429 with Retry-After and the reason once they are used
// up. Reads are never counted. Signing out and changing one's password always work.
func (k *Kit) LimitChanges(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := StateOf(c)
		if k.Limits == nil || IsSafeMethod(c.Request().Method) || st.User == nil {
			return next(c)
		}
		switch p := c.Path(); {
		case p == "/logout", p == "/account/password":
			return next(c)
		case strings.HasPrefix(p, RateLimitsPath) && st.Principal.IsPlatformAdmin():
			return next(c)
		}
		err := k.Limits.AdmitChange(c.Request().Context(), ratelimit.Who{ID: st.User.ID, Name: st.User.Username, Path: c.Path()})
		if e, ok := ratelimit.AsExceeded(err); ok {
			if s := e.RetryAfterSeconds(); s > 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(s))
			}
			msg := e.Message()
			if c.Request().Header.Get("HX-Request") != "true" {
				msg += " Your browser's Back button returns to the form with what you entered."
			}
			return echo.NewHTTPError(http.StatusTooManyRequests, msg+" ("+domain.CodeRateLimitExceeded+")")
		}
		if err != nil {
			return err
		}
		return next(c)
	}
}
