package systems

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// actor is the signed-in user as the use cases need them (RequireUser guarantees one).
func actor(c echo.Context) systems.Actor {
	u := page.User(c)
	return systems.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}
}

// idParam parses a path id; anything that is not a UUID cannot exist.
func idParam(c echo.Context, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

// pageParam reads page and per_page (20 rows by default, at most 100).
func pageParam(c echo.Context) paging.Page {
	return page.Paging(c, paging.DefaultPerPage, paging.MaxPerPage)
}

func tabParam(c echo.Context) systems.Tab {
	if c.QueryParam("tab") == string(systems.TabHistory) {
		return systems.TabHistory
	}
	return systems.TabOverview
}

// httpError maps refusals of the use cases: invisible is 404 (never 403), forbidden 403.
// Anything else is unexpected and becomes a logged 500.
func httpError(err error) error {
	var de *domain.Error
	switch {
	case systems.IsNotFound(err):
		return echo.NewHTTPError(http.StatusNotFound)
	case systems.IsForbidden(err) && errors.As(err, &de):
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	}
	return err
}

// fieldErrors extracts a validation error's fields (nil when err is something else).
func fieldErrors(err error) map[string]string {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

// domainError returns a refusal with a code other than not-found/forbidden.
func domainError(err error) *domain.Error {
	var de *domain.Error
	if errors.As(err, &de) && de.Code != domain.CodeNotFound && de.Code != domain.CodeForbidden {
		return de
	}
	return nil
}

// description reads the description field, replaced by an uploaded .md file when one is
// sent. A bad upload is a field error on description_file.
func description(c echo.Context) (string, string) {
	text := c.FormValue("description")
	fh, err := c.FormFile("description_file")
	if err != nil || fh.Size == 0 {
		return text, "" // no file chosen (or not a multipart form)
	}
	switch strings.ToLower(filepath.Ext(fh.Filename)) {
	case ".md", ".markdown", ".txt":
	default:
		return text, "Upload a .md, .markdown or .txt file."
	}
	if fh.Size > markdown.MaxSource {
		return text, "The file is larger than " + strconv.Itoa(markdown.MaxSource) + " bytes."
	}
	f, err := fh.Open()
	if err != nil {
		return text, "The file could not be read."
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, markdown.MaxSource+1))
	if err != nil || len(b) > markdown.MaxSource {
		return text, "The file could not be read."
	}
	if !utf8.Valid(b) {
		return text, "The file is not UTF-8 text."
	}
	return string(b), ""
}

// nameHelp converts the live verdict to the help fragment's model, with the spec's codes.
func nameHelp(st systems.NameStatus) systemsview.NameCheck {
	nc := systemsview.NameCheck{Field: "name", Length: st.Length, Max: st.Max, Hint: systemsview.NameHint}
	if st.Code != "" {
		nc.Code, nc.Message = st.Code, st.Message+" ("+st.Code+")"
	} else if st.Warning != "" {
		nc.Warning = st.Warning + " (" + domain.CodeNameLengthWarning + ")"
	}
	return nc
}

func systemURL(id uuid.UUID) string  { return "/systems/" + id.String() }
func serviceURL(id uuid.UUID) string { return "/services/" + id.String() }
