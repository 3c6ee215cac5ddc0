package admin

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) templates(c echo.Context) error {
	show := c.QueryParam("show") == "archived"
	groups, err := h.Catalog.ListTemplateGroups(c.Request().Context(), show)
	if err != nil {
		return err
	}
	m := adminview.TemplateList{ShowArchived: show}
	for _, g := range groups {
		latest := g.Latest()
		m.Groups = append(m.Groups, adminview.TemplateGroup{Name: g.Name, DisplayName: latest.DisplayName, Category: latest.Category,
			Source: sourceText(latest), LatestID: latest.ID.String(), Versions: chips(g.Versions, nil)})
	}
	return page.OK(c, adminview.TemplatesPage(h.Kit.Layout(c, "Templates", "admin"), h.nav(c, "templates"), m))
}

func sourceText(t *ent.Template) string {
	if t.SourceType == template.SourceTypePvc {
		return "PVC " + t.PvcNamespace + "/" + t.PvcName
	}
	return t.Image
}

func chips(versions []*ent.Template, current *ent.Template) []adminview.VersionChip {
	out := make([]adminview.VersionChip, 0, len(versions))
	for _, v := range versions {
		out = append(out, adminview.VersionChip{ID: v.ID.String(), Version: v.Version, Status: string(v.Status),
			Current: current != nil && v.ID == current.ID})
	}
	return out
}

func parseTemplateForm(c echo.Context) (adminview.TemplateForm, catalog.TemplateInput) {
	get := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	// cloud-init keeps its exact text (indentation matters); only Windows line ends go.
	cloudInit := strings.ReplaceAll(c.FormValue("cloud_init"), "\r\n", "\n")
	in := catalog.TemplateInput{Name: get("name"), DisplayName: get("display_name"), Category: get("category"),
		Description: get("description"), SourceType: get("source_type"), Image: get("image"),
		PVCNamespace: get("pvc_namespace"), PVCName: get("pvc_name"), CloudInit: cloudInit}
	return templateForm("", in), in
}

func templateForm(id string, in catalog.TemplateInput) adminview.TemplateForm {
	return adminview.TemplateForm{ID: id, Name: in.Name, DisplayName: in.DisplayName, Category: in.Category,
		Description: in.Description, SourceType: in.SourceType, Image: in.Image, PVCNamespace: in.PVCNamespace,
		PVCName: in.PVCName, CloudInit: in.CloudInit}
}

func (h *Handler) newTemplate(c echo.Context) error {
	f := adminview.TemplateForm{SourceType: "containerdisk", Category: "OS",
		CloudInit: "#cloud-config\nuser: ubuntu\npassword: change-me\nchpasswd: {expire: true}\nssh_pwauth: true\n"}
	return h.newTemplatePage(c, http.StatusOK, f)
}

func (h *Handler) newTemplatePage(c echo.Context, status int, f adminview.TemplateForm) error {
	return page.Render(c, status, adminview.TemplateNewPage(h.Kit.Layout(c, "New template", "admin"), h.nav(c, "templates"), f))
}

func (h *Handler) createTemplate(c echo.Context) error {
	f, in := parseTemplateForm(c)
	t, warnings, err := h.Catalog.CreateTemplate(c.Request().Context(), actor(c), in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		f.Errors, f.Message, f.Warnings = errs, msg, warnings
		return h.newTemplatePage(c, http.StatusUnprocessableEntity, f)
	}
	page.Flash(c, "success", "Template "+t.Name+" v1 saved as a draft. Publish it to offer it to requests.")
	for _, w := range warnings {
		page.Flash(c, "warning", w)
	}
	return page.Redirect(c, "/admin/templates/"+t.ID.String())
}

func (h *Handler) loadTemplate(c echo.Context) (*ent.Template, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	t, err := h.Catalog.Template(c.Request().Context(), id)
	return t, loadError(err)
}

func (h *Handler) templateDetail(c echo.Context) error {
	t, err := h.loadTemplate(c)
	if err != nil {
		return err
	}
	return h.detailPage(c, http.StatusOK, t, templateForm(t.ID.String(), catalog.TemplateInputFrom(t)))
}

func (h *Handler) detailPage(c echo.Context, status int, t *ent.Template, f adminview.TemplateForm) error {
	versions, err := h.Catalog.TemplateVersions(c.Request().Context(), t.Name)
	if err != nil {
		return err
	}
	hasDraft := false
	for _, v := range versions {
		hasDraft = hasDraft || v.Status == template.StatusDraft
	}
	f.Name = t.Name
	d := adminview.TemplateDetail{ID: t.ID.String(), Name: t.Name, Status: string(t.Status), Version: t.Version, Form: f,
		Versions: chips(versions, t), Created: views.Ago(t.CreatedAt), CreatedTitle: views.Timestamp(t.CreatedAt),
		Editable:      t.Status == template.StatusDraft,
		CanPublish:    t.Status == template.StatusDraft,
		CanDeprecate:  t.Status == template.StatusActive,
		CanArchive:    t.Status == template.StatusDraft || t.Status == template.StatusDeprecated,
		CanNewVersion: !hasDraft}
	title := t.Name + " v" + itoa(t.Version)
	return page.Render(c, status, adminview.TemplateDetailPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "templates"), d))
}

func (h *Handler) updateTemplate(c echo.Context) error {
	t, err := h.loadTemplate(c)
	if err != nil {
		return err
	}
	f, in := parseTemplateForm(c)
	f.ID = t.ID.String()
	saved, warnings, err := h.Catalog.UpdateDraft(c.Request().Context(), actor(c), t.ID, in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		if len(errs) == 0 {
			// Not a draft (any more): say so on the read-only page.
			page.Flash(c, "error", msg)
			return page.Redirect(c, "/admin/templates/"+t.ID.String())
		}
		f.Errors, f.Message, f.Warnings = errs, msg, warnings
		return h.detailPage(c, http.StatusUnprocessableEntity, t, f)
	}
	page.Flash(c, "success", "Draft v"+itoa(saved.Version)+" of "+saved.Name+" saved.")
	for _, w := range warnings {
		page.Flash(c, "warning", w)
	}
	return page.Redirect(c, "/admin/templates/"+t.ID.String())
}
