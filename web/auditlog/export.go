package auditlog

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
)

// exportDoc is the SIEM-friendly export (spec/flows.md §2.23): ECS-like events plus
// pagination, so a collector can page through with the same filters.
type exportDoc struct {
	Data       []exportEvent    `json:"data"`
	Pagination exportPagination `json:"pagination"`
}

type exportEvent struct {
	Timestamp string         `json:"@timestamp"`
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	Level     string         `json:"level"`
	Actor     exportActor    `json:"actor"`
	Resource  exportResource `json:"resource"`
	Context   exportContext  `json:"context"`
	Details   map[string]any `json:"details"`
}

type exportActor struct {
	ID        *string `json:"id"` // null when nobody was signed in
	Name      string  `json:"name"`
	IP        string  `json:"ip"`
	UserAgent string  `json:"user_agent,omitempty"`
}

type exportResource struct {
	Type   string        `json:"type"`
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	Parent *exportParent `json:"parent,omitempty"`
}

type exportParent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type exportContext struct {
	Environment   string `json:"environment"`
	Cluster       string `json:"cluster,omitempty"`
	RequestID     string `json:"request_id"`
	CorrelationID string `json:"correlation_id"` // the request id, under the spec's name
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
	doc := exportDoc{Data: make([]exportEvent, 0, len(res.Rows)), Pagination: exportPagination{Page: res.Page.Number,
		PerPage: res.Page.PerPage, Total: res.Total, TotalCapped: res.Capped, MaxPerPage: audit.MaxExportPerPage,
		HasMore: res.Capped || res.Page.Number < res.Page.Pages(res.Total)}}
	for _, r := range res.Rows {
		doc.Data = append(doc.Data, exportOf(r))
	}
	if err := h.record(c, "audit.export", form, map[string]any{"page": res.Page.Number, "per_page": res.Page.PerPage, "count": len(doc.Data)}); err != nil {
		return err
	}
	name := "shepherd-audit-" + time.Now().UTC().Format("20060102T150405Z") + ".json"
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.JSON(http.StatusOK, doc)
}

func exportOf(r *ent.AuditLog) exportEvent {
	ev := exportEvent{Timestamp: r.CreatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID.String(), Action: r.Action,
		Level: level(r.Action), Actor: exportActor{Name: r.ActorName, IP: r.IPAddress, UserAgent: r.UserAgent},
		Resource: exportResource{Type: r.ResourceType, ID: r.ResourceID, Name: r.ResourceName},
		Context:  exportContext{Environment: r.Environment, RequestID: r.RequestID, CorrelationID: r.RequestID},
		Details:  r.Details}
	if r.ActorID != nil {
		id := r.ActorID.String()
		ev.Actor.ID = &id
	}
	if r.ParentType != "" || r.ParentID != "" {
		ev.Resource.Parent = &exportParent{Type: r.ParentType, ID: r.ParentID}
	}
	if cl, ok := r.Details["cluster"].(string); ok {
		ev.Context.Cluster = cl
	}
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	return ev
}

// level marks refusals and failures for the SIEM; everything else is informational.
func level(action string) string {
	for _, w := range []string{"failed", "denied", "refused", "rejected_self"} {
		if strings.Contains(action, w) {
			return "warning"
		}
	}
	return "info"
}
