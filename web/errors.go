package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

// errorHandler renders every error as a page, or as a fragment for htmx requests that is
// swapped into the flash area. Internal details go to the log, never to the page.
func (h *handlers) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if clientGone(c, err) {
		// Nobody is there to read a page. 499 (nginx's "client closed request") keeps the
		// access log and metrics honest: not a server failure.
		c.Response().WriteHeader(StatusClientClosedRequest)
		return
	}
	if pg, ok := dataException(err); ok {
		h.d.Logger.Warn("input refused by PostgreSQL; a field check is missing", "request_id", page.RequestID(c),
			"path", c.Request().URL.Path, "sqlstate", pg.Code, "err", pg.Message)
		err = echo.NewHTTPError(http.StatusBadRequest,
			"Some of the submitted text is too long or not in a form Shepherd can store. Shorten or correct it and try again.")
	}
	status := http.StatusInternalServerError
	msg := ""
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		if s, ok := he.Message.(string); ok && he.Internal == nil && status != http.StatusInternalServerError {
			msg = s
		}
	}
	info := views.ErrorInfo{Status: status, RequestID: page.RequestID(c), ShowHome: true}
	switch status {
	case http.StatusNotFound:
		info.Title, info.Message = "Page not found", "There is nothing here, or you do not have access to it."
	case http.StatusForbidden:
		info.Title, info.Message = "Not allowed", "You do not have permission to do this."
	case http.StatusMethodNotAllowed:
		info.Title, info.Message = "Not allowed", "This address does not accept that kind of request."
	case http.StatusBadRequest:
		info.Title, info.Message = "Bad request", "The request could not be understood."
	case http.StatusRequestEntityTooLarge:
		info.Title, info.Message = "Too large", "The submitted data is too large."
	case http.StatusTooManyRequests:
		info.Title, info.Message = "Slow down", "Too many requests. Wait a moment and try again."
	case http.StatusServiceUnavailable:
		info.Title, info.Message = "Temporarily unavailable", "Shepherd cannot serve this right now. Try again shortly."
	default:
		if status >= 500 {
			status = http.StatusInternalServerError
			info.Status = status
			info.Title, info.Message = "Something went wrong", "The error has been logged. Try again, and quote the reference below if it persists."
		} else {
			info.Title, info.Message = http.StatusText(status), "The request could not be completed."
		}
	}
	if msg != "" && msg != http.StatusText(status) {
		info.Message = msg
	}
	if status >= 500 {
		h.d.Logger.Error("request failed", "request_id", info.RequestID, "path", c.Request().URL.Path, "err", fmt.Sprint(err))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Retarget", "#flash-area")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		_ = page.Render(c, status, views.ErrorFragment(info))
		return
	}
	_ = page.Render(c, status, views.ErrorPage(h.kit.Layout(c, info.Title, ""), info))
}

// StatusClientClosedRequest is recorded when the client hung up before the answer.
const StatusClientClosedRequest = 499

// clientGone reports a request whose client went away (its context was cancelled): the
// error, whatever it says, is a consequence of that, not a server failure.
func clientGone(c echo.Context, err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(c.Request().Context().Err(), context.Canceled)
}
