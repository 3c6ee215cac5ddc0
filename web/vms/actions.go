package vms

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views/vmsview"
	"kv-shepherd.io/shepherd/web/page"
)

func who(c echo.Context) governance.Requester {
	return governance.Requester{User: page.User(c), Principal: page.Principal(c)}
}

// power starts, stops or restarts the VM: right away in test, as a request in prod.
func (h *Handler) power(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	op, reason := c.FormValue("op"), c.FormValue("reason")
	t, err := h.Gov.RequestPower(c.Request().Context(), who(c), id, op, reason)
	if err != nil {
		return h.refused(c, err, func(a *vmsview.Actions, fields domain.FieldErrors, msg string) {
			a.PowerReason, a.PowerError = reason, msg
			for k, v := range fields {
				a.PowerErrors[k] = v
			}
		})
	}
	if t.Status == approvalticket.StatusAPPROVED {
		page.Flash(c, "success", fmt.Sprintf("%s: %s requested. It runs now; this page follows it.", t.TargetName, op))
	} else {
		page.Flash(c, "info", fmt.Sprintf("Your %s request for %s waits for an approver; you will be notified of the decision.", op, t.TargetName))
	}
	return page.Redirect(c, "/vms/"+id.String())
}

// remove asks for the VM's deletion, which always needs an approval.
func (h *Handler) remove(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	reason, confirmName := c.FormValue("delete_reason"), c.FormValue("confirm_name")
	confirm := c.FormValue("confirm") != ""
	t, err := h.Gov.RequestDelete(c.Request().Context(), who(c), id, reason, confirm, confirmName)
	if err != nil {
		return h.refused(c, err, func(a *vmsview.Actions, fields domain.FieldErrors, msg string) {
			a.DeleteReason, a.ConfirmName, a.DeleteError, a.DeleteOpen = reason, confirmName, msg, true
			for k, v := range fields {
				a.DeleteErrors[k] = v
			}
		})
	}
	page.Flash(c, "info", fmt.Sprintf("Deletion of %s requested. An approver decides; you will be notified.", t.TargetName))
	return page.Redirect(c, "/vms/"+id.String())
}

// refused shows a refused action on the VM page (422) with the message next to the form
// it concerns; unknown or invisible VMs are 404 and missing rights 403, never a 500.
func (h *Handler) refused(c echo.Context, err error, show func(a *vmsview.Actions, fields domain.FieldErrors, msg string)) error {
	var ve *domain.ValidationError
	var de *domain.Error
	fields, msg := domain.FieldErrors{}, ""
	switch {
	case errors.Is(err, governance.ErrVMNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case errors.As(err, &de) && de.Code == domain.CodeForbidden:
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case errors.As(err, &ve):
		fields = ve.Fields
	case errors.As(err, &de) && de.Field != "":
		fields[de.Field] = de.Message
	case errors.As(err, &de):
		msg = de.Message
	default:
		return err
	}
	v, names, verr := h.visibleVM(c)
	if verr != nil {
		return verr
	}
	d, derr := h.detailModel(c, v, names)
	if derr != nil {
		return derr
	}
	show(&d.Live.Actions, fields, msg)
	return page.Render(c, http.StatusUnprocessableEntity, vmsview.DetailPage(h.Kit.Layout(c, v.Name, "vms"), d))
}
