package auditlog

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/auditview"
	"kv-shepherd.io/shepherd/web/page"
)

const archivesPath = "/admin/audit/archives"

// archives lists the retention job's archives with their span, size and checksum, and
// the retention policy in words.
func (h *Handler) archives(c echo.Context) error {
	pg := page.Paging(c, 50, 100)
	list, total, err := audit.Archives(c.Request().Context(), h.Kit.Store.Ent, pg.Offset(), pg.PerPage)
	if err != nil {
		return err
	}
	cfg := h.Kit.Config
	m := auditview.Archives{Pager: views.NewPager(pg, total, archivesPath, c.QueryParams()), Enabled: cfg.AuditRetention,
		Policy: []string{
			fmt.Sprintf("Test environment: %d days in the audit log.", cfg.AuditRetainTestDays),
			fmt.Sprintf("Prod environment and platform records (sign-ins, settings, catalogues): %d days.", cfg.AuditRetainProdDays),
			fmt.Sprintf("Deletions, approval decisions and role changes, in any environment: %d days.", cfg.AuditRetainSensitiveDays),
		}}
	if cfg.AuditArchiveKeepDays > 0 {
		m.Policy = append(m.Policy, fmt.Sprintf("Archives are deleted %d days after they were made; each deletion is audited.", cfg.AuditArchiveKeepDays))
	} else {
		m.Policy = append(m.Policy, "Archives are kept until you remove them from the database yourself; Shepherd never deletes them.")
	}
	for _, a := range list {
		m.Rows = append(m.Rows, auditview.ArchiveRow{
			Span:        a.FirstAt.UTC().Format("2 Jan 2006 15:04") + " – " + a.LastAt.UTC().Format("2 Jan 2006 15:04 UTC"),
			Rows:        a.Rows,
			Classes:     classesText(a.Classes),
			Size:        sizeText(a.SizeBytes),
			SHA256:      a.SHA256,
			Made:        views.Ago(a.CreatedAt),
			MadeTitle:   views.Timestamp(a.CreatedAt),
			DownloadURL: archivesPath + "/" + a.ID.String() + "/download",
			Name:        a.Name,
		})
	}
	return page.OK(c, auditview.ArchivesPage(h.Kit.Layout(c, "Audit archives", "audit"), m))
}

// downloadArchive sends one archive as stored (gzip JSON Lines); the download is audited.
func (h *Handler) downloadArchive(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	ar, err := h.Kit.Store.Ent.AuditArchive.Get(ctx, id)
	if ent.IsNotFound(err) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	u := page.User(c)
	if err := audit.Write(ctx, h.Kit.Store.Ent, audit.Entry{Action: "audit.archive_download", ActorID: &u.ID, ActorName: u.Username,
		ResourceType: "audit_archive", ResourceID: ar.ID.String(), ResourceName: audit.ArchiveName(ar),
		Details: map[string]any{"rows": ar.RowCount, "sha256": ar.Sha256}}); err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+audit.ArchiveName(ar)+`"`)
	w.Header().Set("X-Content-SHA256", ar.Sha256)
	w.Header().Set(echo.HeaderContentLength, strconv.Itoa(len(ar.Content)))
	return c.Blob(http.StatusOK, "application/gzip", ar.Content)
}

func classesText(classes map[string]int) string {
	names := map[string]string{audit.ClassTest: "test", audit.ClassProd: "prod", audit.ClassPlatform: "platform", audit.ClassSensitive: "sensitive"}
	keys := make([]string, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", classes[k], names[k])
	}
	return s
}

func sizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
