package systems

import (
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/markdown"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// previewMarkdown is POST /markdown/preview (htmx): the description rendered exactly as
// the detail page will show it, sanitized. POST because descriptions can be long.
func (h *Handler) previewMarkdown(c echo.Context) error {
	src := c.FormValue("description")
	html := ""
	if src != "" {
		html = markdown.Render(src)
	}
	return page.OK(c, systemsview.Preview(html))
}
