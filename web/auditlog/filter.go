package auditlog

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views/auditview"
	"kv-shepherd.io/shepherd/web/page"
)

// filterForm is the audit log's query string, shared by the viewer and the export. The
// export also takes the API's names: start_time/end_time (RFC 3339) and actor_id.
type filterForm struct {
	Action, Actor, ResourceType, ResourceID, Environment, From, To string
	ActorID, StartTime, EndTime                                    string
	Page                                                           paging.Page
}

const dateLayout = "2006-01-02"

var actionPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]+[*%]?$`)

func readFilterForm(q url.Values, defaultPerPage, maxPerPage int) filterForm {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	return filterForm{Action: get("action"), Actor: get("actor"), ResourceType: get("resource_type"),
		ResourceID: get("resource_id"), Environment: get("environment"), From: get("from"), To: get("to"),
		ActorID: get("actor_id"), StartTime: get("start_time"), EndTime: get("end_time"),
		Page: page.PagingOf(q, defaultPerPage, maxPerPage)}
}

// filter validates the form into a search; errors are keyed by field name.
func (f filterForm) filter() (audit.Filter, map[string]string) {
	errs := map[string]string{}
	out := audit.Filter{Action: f.Action, Actor: f.Actor, ResourceType: f.ResourceType, ResourceID: f.ResourceID,
		Environment: f.Environment, Page: f.Page}
	if f.Action != "" && (len(f.Action) > 50 || !actionPattern.MatchString(f.Action)) {
		errs["action"] = "Letters, digits, dots, dashes and underscores; end with . or * for a prefix."
	}
	for name, v := range map[string]string{"actor": f.Actor, "resource_type": f.ResourceType, "resource_id": f.ResourceID} {
		if len(v) > 255 {
			errs[name] = "At most 255 characters."
		}
	}
	if f.Environment != "" && f.Environment != "test" && f.Environment != "prod" {
		errs["environment"] = "Choose test or prod."
	}
	if f.ActorID != "" {
		id, err := uuid.Parse(f.ActorID)
		if err != nil {
			errs["actor"] = "actor_id is not a valid id."
		} else {
			out.ActorID = &id
		}
	}
	out.From = parseBound(f.StartTime, f.From, false, "from", errs)
	out.To = parseBound(f.EndTime, f.To, true, "to", errs)
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) && errs["to"] == "" {
		errs["to"] = "Must not be before the start."
	}
	return out, errs
}

// parseBound reads an RFC 3339 instant (API) or a YYYY-MM-DD day in UTC (form). A day
// used as an end includes the whole day.
func parseBound(instant, day string, end bool, field string, errs map[string]string) time.Time {
	if instant != "" {
		t, err := time.Parse(time.RFC3339, instant)
		if err != nil {
			errs[field] = "Use an RFC 3339 time, e.g. 2026-03-01T00:00:00Z."
		}
		return t.UTC()
	}
	if day == "" {
		return time.Time{}
	}
	t, err := time.ParseInLocation(dateLayout, day, time.UTC)
	if err != nil {
		errs[field] = "Use a date like 2026-03-01."
		return time.Time{}
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// values is the query string of the set filters (without paging).
func (f filterForm) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"action": f.Action, "actor": f.Actor, "resource_type": f.ResourceType,
		"resource_id": f.ResourceID, "environment": f.Environment, "from": f.From, "to": f.To,
		"actor_id": f.ActorID, "start_time": f.StartTime, "end_time": f.EndTime} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditDetails records what was looked at, for the audit.view and audit.export rows.
func (f filterForm) auditDetails() map[string]any {
	set := map[string]any{}
	for k, s := range f.values() {
		set[k] = s[0]
	}
	return set
}

func (f filterForm) view(errs map[string]string) auditview.Form {
	return auditview.Form{Action: f.Action, Actor: f.Actor, ResourceType: f.ResourceType, ResourceID: f.ResourceID,
		Environment: f.Environment, From: f.From, To: f.To, Errors: errs}
}
