package auditlog

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/auditview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) list(c echo.Context) error {
	ctx := c.Request().Context()
	client := h.Kit.Store.Ent
	form := readFilterForm(c.QueryParams(), paging.DefaultPerPage, paging.MaxPerPage)
	filter, errs := form.filter()
	m := auditview.Page{Form: form.view(errs), Filtered: len(form.values()) > 0, ResetURL: listPath}
	exportQuery := form.values()
	exportQuery.Set("per_page", strconv.Itoa(audit.MaxExportPerPage))
	m.ExportURL = exportPath + "?" + exportQuery.Encode()
	// The whole-log exports take the same filters and no page.
	exportQuery.Del("per_page")
	for _, f := range []string{"jsonl", "csv"} {
		exportQuery.Set("format", f)
		m.StreamURLs = append(m.StreamURLs, auditview.Link{Label: f, URL: exportPath + "?" + exportQuery.Encode()})
	}
	var err error
	if m.Actions, err = audit.DistinctActions(ctx, client); err != nil {
		return err
	}
	if m.ResourceTypes, err = audit.DistinctResourceTypes(ctx, client); err != nil {
		return err
	}
	layout := h.Kit.Layout(c, "Audit log", "audit")
	if len(errs) > 0 {
		return page.Render(c, http.StatusBadRequest, auditview.AuditPage(layout, m))
	}
	res, err := audit.Search(ctx, client, filter)
	if err != nil {
		return err
	}
	// Fail closed: a view that cannot be audited is not shown.
	if err := h.record(c, "audit.view", form, map[string]any{"page": res.Page.Number, "results": res.Total}); err != nil {
		return err
	}
	m.ActorByName, m.Capped = res.ActorByName, res.Capped
	m.Pager = views.NewPager(res.Page, res.Total, listPath, form.values())
	for _, r := range res.Rows {
		m.Rows = append(m.Rows, viewRow(r))
	}
	if err := pageLinks(ctx, h.Kit.Store.Ent, m.Rows); err != nil {
		return err
	}
	return page.OK(c, auditview.AuditPage(layout, m))
}

// record writes the audit row of a view or an export.
func (h *Handler) record(c echo.Context, action string, form filterForm, extra map[string]any) error {
	u := page.User(c)
	details := map[string]any{"filters": form.auditDetails()}
	for k, v := range extra {
		details[k] = v
	}
	return audit.Write(c.Request().Context(), h.Kit.Store.Ent, audit.Entry{Action: action, ActorID: &u.ID,
		ActorName: u.Username, ResourceType: "audit_log", Details: details})
}

func filterURL(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	return listPath + "?" + q.Encode()
}

func viewRow(r *ent.AuditLog) auditview.Row {
	row := auditview.Row{At: r.CreatedAt, Actor: r.ActorName, Anonymous: r.ActorID == nil, Action: r.Action,
		ActionURL: filterURL("action", r.Action), ResourceType: r.ResourceType, ResourceName: r.ResourceName,
		ResourceID: r.ResourceID, Environment: r.Environment, IP: r.IPAddress, RequestID: r.RequestID}
	if r.ActorName != "" {
		row.ActorURL = filterURL("actor", r.ActorName)
	}
	if r.ResourceType != "" && r.ResourceID != "" {
		row.ResourceURL = filterURL("resource_type", r.ResourceType, "resource_id", r.ResourceID)
	}
	if r.ParentType != "" {
		row.Parent = r.ParentType + " " + r.ParentID
	}
	var cut bool
	row.Details, cut = compactDetails(r.Details)
	if cut {
		b, _ := json.MarshalIndent(r.Details, "", "  ")
		row.DetailsJSON = string(b)
	}
	return row
}

// Limits of the compact details column.
const (
	maxDetailPairs = 6
	maxDetailValue = 48
)

// compactDetails renders details as sorted key=value pairs, nested values as JSON, long
// values cut. cut reports that something was left out.
func compactDetails(d map[string]any) (out []auditview.Detail, cut bool) {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == maxDetailPairs {
			out = append(out, auditview.Detail{Key: "…", Value: fmt.Sprintf("%d more", len(keys)-i)})
			return out, true
		}
		v := detailValue(d[k])
		if utf8.RuneCountInString(v) > maxDetailValue {
			v = string([]rune(v)[:maxDetailValue-1]) + "…"
			cut = true
		}
		out = append(out, auditview.Detail{Key: k, Value: v})
	}
	return out, cut
}

func detailValue(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return "null"
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
