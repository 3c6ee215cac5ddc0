package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"
)

// LiveVersionHeader carries a fragment's version: sent with a 200, and back by
// static/js/live.js when it re-fetches the fragment on a pushed change.
const LiveVersionHeader = "X-Live-Version"

// Unchanged is middleware for the fragments pages re-fetch on pushed changes: it versions
// the fragment by a hash of its HTML and answers 204 (htmx swaps nothing) when the page
// already shows that version. Many changes (a worker's bookkeeping, a sync that observed
// nothing new to this page) would otherwise replace a block under the user's pointer
// with an identical one.
func Unchanged(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		orig := res.Writer
		rec := &recorder{ResponseWriter: orig, status: http.StatusOK}
		res.Writer = rec
		err := next(c)
		res.Writer = orig
		if err != nil && rec.body.Len() == 0 {
			return err // nothing written: the error handler answers as usual
		}
		if rec.status == http.StatusOK {
			sum := sha256.Sum256(rec.body.Bytes())
			version := base64.RawURLEncoding.EncodeToString(sum[:12])
			if c.Request().Header.Get(LiveVersionHeader) == version {
				orig.Header().Del(echo.HeaderContentType)
				orig.Header().Del(echo.HeaderContentLength) // set by Render for the body not sent
				orig.WriteHeader(http.StatusNoContent)
				res.Status = http.StatusNoContent
				return nil
			}
			orig.Header().Set(LiveVersionHeader, version)
		}
		orig.WriteHeader(rec.status)
		_, _ = orig.Write(rec.body.Bytes())
		return err
	}
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// Flush does nothing: the whole fragment is sent at the end (templ flushes its buffer).
func (r *recorder) Flush() {}
