package auditlog

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
)

// streamFormats are the whole-log exports: every matching row, streamed.
var streamFormats = map[string]struct{ contentType, ext string }{
	"jsonl": {"application/x-ndjson; charset=utf-8", "jsonl"},
	"csv":   {"text/csv; charset=utf-8", "csv"},
}

// csvHeader names the CSV columns; details is the event's details as JSON.
var csvHeader = []string{"timestamp", "id", "action", "level", "actor_id", "actor_name", "ip", "user_agent",
	"resource_type", "resource_id", "resource_name", "parent_type", "parent_id", "environment", "cluster",
	"request_id", "details"}

// exportStream writes every row matching the filters as JSON Lines (one event per line,
// the JSON export's event shape) or CSV, newest first, read in keyset batches and flushed
// after each: memory stays constant whatever the size. The export is audited before the
// first byte, with its filters and format.
func (h *Handler) exportStream(c echo.Context, form filterForm, filter audit.Filter, format string) error {
	f := streamFormats[format]
	if err := h.record(c, "audit.export", form, map[string]any{"format": format}); err != nil {
		return err
	}
	w := c.Response()
	name := "shepherd-audit-" + time.Now().UTC().Format("20060102T150405Z") + "." + f.ext
	w.Header().Set(echo.HeaderContentType, f.contentType)
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	buf := bufio.NewWriterSize(w, 64<<10)
	var write func([]*ent.AuditLog) error
	if format == "csv" {
		cw := csv.NewWriter(buf)
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
		record := make([]string, len(csvHeader))
		write = func(rows []*ent.AuditLog) error {
			for _, r := range rows {
				if err := cw.Write(csvRecord(record, audit.ECS(r))); err != nil {
					return err
				}
			}
			cw.Flush()
			return cw.Error()
		}
	} else {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		write = func(rows []*ent.AuditLog) error {
			for _, r := range rows {
				if err := enc.Encode(audit.ECS(r)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	_, err := audit.Stream(c.Request().Context(), h.Kit.Store.Ent, filter, func(rows []*ent.AuditLog) error {
		if err := write(rows); err != nil {
			return err
		}
		if err := buf.Flush(); err != nil {
			return err
		}
		w.Flush()
		return nil
	})
	if err != nil {
		// The status is sent: a broken stream is all the client can get. The log says why.
		h.Kit.Logger.Warn("audit export stopped", "format", format, "err", err)
		return nil
	}
	return buf.Flush()
}

// csvRecord fills record with one event. Cells a spreadsheet would run as a formula are
// prefixed with an apostrophe.
func csvRecord(record []string, ev audit.ECSEvent) []string {
	actorID := ""
	if ev.Actor.ID != nil {
		actorID = *ev.Actor.ID
	}
	parentType, parentID := "", ""
	if ev.Resource.Parent != nil {
		parentType, parentID = ev.Resource.Parent.Type, ev.Resource.Parent.ID
	}
	details, _ := json.Marshal(ev.Details)
	for i, v := range []string{ev.Timestamp, ev.ID, ev.Action, ev.Level, actorID, ev.Actor.Name, ev.Actor.IP, ev.Actor.UserAgent,
		ev.Resource.Type, ev.Resource.ID, ev.Resource.Name, parentType, parentID, ev.Context.Environment, ev.Context.Cluster,
		ev.Context.RequestID, string(details)} {
		record[i] = csvSafe(v)
	}
	return record
}

func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
