package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/web/page"
)

// storableInput refuses, before any handler runs, text PostgreSQL cannot store: a NUL
// byte or invalid UTF-8 in the path, a query or form field name or value (file contents
// are the handlers' business). No handler then meets such text, so none can turn it into
// a database error. A malformed form body is refused the same way.
func (h *handlers) storableInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !storable(r.URL.Path) {
			return h.badInput(c, "the address")
		}
		if field, ok := storableValues(r.URL.Query()); !ok {
			return h.badInput(c, fieldLabel("the query parameter", field))
		}
		if page.IsSafeMethod(r.Method) {
			return next(c)
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
		switch mt {
		case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		default:
			return next(c) // JSON (the job UI's API) and other bodies are decoded by their handlers
		}
		form, err := c.FormParams()
		if err != nil {
			var tooLarge *http.MaxBytesError
			var he *echo.HTTPError
			if errors.As(err, &he) {
				return he // the body limit
			}
			if errors.As(err, &tooLarge) {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
			}
			return echo.NewHTTPError(http.StatusBadRequest, "The submitted form could not be read. Reload the page and try again.")
		}
		if field, ok := storableValues(form); !ok {
			return h.badInput(c, fieldLabel("the field", field))
		}
		if mf := r.MultipartForm; mf != nil {
			for name, files := range mf.File {
				if !storable(name) {
					return h.badInput(c, "a file field's name")
				}
				for _, f := range files {
					if !storable(f.Filename) {
						return h.badInput(c, fieldLabel("the file name of", name))
					}
				}
			}
		}
		return next(c)
	}
}

// requestIDPattern is what an incoming X-Request-Id may look like to be kept (a proxy's
// id joins our logs); anything else is replaced by our own.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// cleanHeaders runs before routing: headers that reach logs and audit rows (the request id
// and the user agent) are made storable, so a crafted header cannot fail a write.
func cleanHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !requestIDPattern.MatchString(id) {
			h.Del(echo.HeaderXRequestID)
		}
		if ua := h.Get("User-Agent"); !storable(ua) {
			h.Set("User-Agent", strings.ToValidUTF8(strings.ReplaceAll(ua, "\x00", ""), "\uFFFD"))
		}
		return next(c)
	}
}

// storable reports text PostgreSQL accepts: valid UTF-8 without NUL bytes.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func storableValues(v url.Values) (string, bool) {
	for k, vs := range v {
		if !storable(k) {
			return "", false
		}
		for _, s := range vs {
			if !storable(s) {
				return k, false
			}
		}
	}
	return "", true
}

func fieldLabel(what, name string) string {
	if name == "" {
		return "a field name"
	}
	return fmt.Sprintf("%s %q", what, name)
}

func (h *handlers) badInput(c echo.Context, where string) error {
	h.d.Logger.Info("request with unstorable text refused", "request_id", page.RequestID(c), "path", c.Request().URL.EscapedPath(),
		"where", where, "ip", page.ClientIP(c))
	return echo.NewHTTPError(http.StatusBadRequest,
		"The request was refused: "+where+" contains a NUL byte or is not valid UTF-8 text. Remove the unusual characters and try again.")
}

// dataException is PostgreSQL's class 22 (text too long, bad encoding, number out of
// range, malformed value): input that should have been refused with a field message.
// The edge and the forms catch these first; this keeps any that slip through a 400 with a
// plain message instead of a 500.
func dataException(err error) (*pgconn.PgError, bool) {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && strings.HasPrefix(pg.Code, "22") {
		return pg, true
	}
	return nil, false
}
