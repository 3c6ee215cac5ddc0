package systems

import (
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// list is GET /systems?q=&page=&per_page=.
func (h *Handler) list(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	p := page.Principal(c)
	res, err := h.Systems.ListSystems(c.Request().Context(), p, q, pageParam(c))
	if err != nil {
		return httpError(err)
	}
	filters := url.Values{}
	if q != "" {
		filters.Set("q", q)
	}
	m := systemsview.ListPage{Query: q, CanCreate: res.CanCreate, IsAdmin: p.IsPlatformAdmin(),
		Pager: views.NewPager(res.Page, res.Total, "/systems", filters)}
	for _, r := range res.Rows {
		m.Rows = append(m.Rows, systemsview.SystemRow{URL: systemURL(r.ID), Name: r.Name, Excerpt: r.Excerpt, MyRole: r.MyRole,
			CreatedBy: r.CreatedBy, Services: r.Services, CreatedAt: r.CreatedAt})
	}
	return page.OK(c, systemsview.SystemsList(h.Kit.Layout(c, "Systems", "systems"), m))
}
