package auditlog

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/audit"
)

// exportDoc is the SIEM-friendly export (spec/flows.md §2.23): ECS-like events plus
// pagination, so a collector can page through with the same filters.
type exportDoc struct {
	Data       []audit.ECSEvent `json:"data"`
	Pagination exportPagination `json:"pagination"`
}

type exportPagination struct {
	Page        int  `json:"page"`
	PerPage     int  `json:"per_page"`
	Total       int  `json:"total"`
	TotalCapped bool `json:"total_capped"` // total stopped counting at the cap
	HasMore     bool `json:"has_more"`
	MaxPerPage  int  `json:"max_per_page"`
}

// exportDefaultPerPage is used when the caller names no page size.
const exportDefaultPerPage = 100

type apiError struct {
	Error struct {
		Code   string            `json:"code"`
		Params map[string]string `json:"params"`
	} `json:"error"`
}

// export is GET /admin/audit/export: the viewer's filters, page and per_page (at most
// 1000) as a JSON page; with format=jsonl or format=csv, every matching row, streamed.
func (h *Handler) export(c echo.Context) error {
	form := readFilterForm(c.QueryParams(), exportDefaultPerPage, audit.MaxExportPerPage)
	filter, errs := form.filter()
	c.Response().Header().Set("Cache-Control", "no-store")
	format := c.QueryParam("format")
	if _, ok := streamFormats[format]; !ok && format != "" && format != "json" {
		if errs == nil {
			errs = map[string]string{}
		}
		errs["format"] = "json, jsonl or csv"
	}
	if len(errs) > 0 {
		var e apiError
		e.Error.Code, e.Error.Params = "VALIDATION_FAILED", errs
		return c.JSON(http.StatusBadRequest, e)
	}
	if _, ok := streamFormats[format]; ok {
		return h.exportStream(c, form, filter, format)
	}
	res, err := audit.Search(c.Request().Context(), h.Kit.Store.Ent, filter)
	if err != nil {
		return err
	}
	doc := exportDoc{Data: make([]audit.ECSEvent, 0, len(res.Rows)), Pagination: exportPagination{Page: res.Page.Number,
		PerPage: res.Page.PerPage, Total: res.Total, TotalCapped: res.Capped, MaxPerPage: audit.MaxExportPerPage,
		HasMore: res.Capped || res.Page.Number < res.Page.Pages(res.Total)}}
	for _, r := range res.Rows {
		doc.Data = append(doc.Data, audit.ECS(r))
	}
	if err := h.record(c, "audit.export", form, map[string]any{"page": res.Page.Number, "per_page": res.Page.PerPage, "count": len(doc.Data)}); err != nil {
		return err
	}
	name := "shepherd-audit-" + time.Now().UTC().Format("20060102T150405Z") + ".json"
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.JSON(http.StatusOK, doc)
}
