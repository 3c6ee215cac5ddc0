package admin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) sizes(c echo.Context) error {
	rows, err := h.Catalog.ListSizes(c.Request().Context())
	if err != nil {
		return err
	}
	var m adminview.SizeList
	for _, sz := range rows {
		m.Rows = append(m.Rows, sizeRow(sz))
	}
	return page.OK(c, adminview.SizesPage(h.Kit.Layout(c, "Instance sizes", "admin"), h.nav(c, "sizes"), m))
}

func (h *Handler) newSize(c echo.Context) error {
	return h.sizeForm(c, http.StatusOK, sizeForm("", catalog.NewSizeInput()))
}

func (h *Handler) sizeForm(c echo.Context, status int, f adminview.SizeForm) error {
	title := "New instance size"
	if f.ID != "" {
		title = "Instance size " + f.Name
	}
	var err error
	if f.DryRunClusters, err = h.dryRunClusters(c, f.DryRunCluster); err != nil {
		return err
	}
	return page.Render(c, status, adminview.SizeFormPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "sizes"), f))
}

func (h *Handler) createSize(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	f, in, errs := parseSizeForm(form)
	if len(errs) == 0 {
		sz, err := h.Catalog.CreateSize(c.Request().Context(), actor(c), in)
		if err == nil {
			page.Flash(c, "success", "Instance size "+catalog.SizeLabel(sz)+" created.")
			return page.Redirect(c, "/admin/sizes")
		}
		var ok bool
		var fatal error
		if errs, f.Message, ok, fatal = formProblem(err); !ok {
			return fatal
		}
	} else {
		merge(errs, sizeRules(in))
	}
	f.Errors = errs
	return h.sizeForm(c, http.StatusUnprocessableEntity, f)
}

// sizeRules runs the use case's checks on partly parsed input, so the first submit
// already shows every problem and not only the unparsable numbers.
func sizeRules(in catalog.SizeInput) map[string]string {
	fields, _, _, _ := formProblem(in.Validate())
	return fields
}

func (h *Handler) loadSize(c echo.Context) (*ent.InstanceSize, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	sz, err := h.Catalog.Size(c.Request().Context(), id)
	return sz, loadError(err)
}

func (h *Handler) editSize(c echo.Context) error {
	sz, err := h.loadSize(c)
	if err != nil {
		return err
	}
	return h.sizeForm(c, http.StatusOK, sizeForm(sz.ID.String(), catalog.SizeInputFrom(sz)))
}

func (h *Handler) updateSize(c echo.Context) error {
	sz, err := h.loadSize(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	f, in, errs := parseSizeForm(form)
	f.ID, f.Name, in.Name = sz.ID.String(), sz.Name, sz.Name
	if len(errs) == 0 {
		saved, err := h.Catalog.UpdateSize(c.Request().Context(), actor(c), sz.ID, in)
		if err == nil {
			page.Flash(c, "success", "Instance size "+catalog.SizeLabel(saved)+" saved. Approved requests keep their snapshot.")
			return page.Redirect(c, "/admin/sizes")
		}
		var ok bool
		var fatal error
		if errs, f.Message, ok, fatal = formProblem(err); !ok {
			return fatal
		}
	} else {
		merge(errs, sizeRules(in))
	}
	f.Errors = errs
	return h.sizeForm(c, http.StatusUnprocessableEntity, f)
}

func (h *Handler) toggleSize(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		sz, err := h.Catalog.SetSizeEnabled(c.Request().Context(), actor(c), id, enabled)
		msg := ""
		if err == nil {
			msg = "Instance size " + sz.Name + " " + enabledWord(enabled) + "."
		}
		return actionDone(c, err, msg, "/admin/sizes")
	}
}
