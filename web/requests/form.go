package requests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/requestsview"
	"kv-shepherd.io/shepherd/web/page"
)

// selection is what the form had selected (empty on first load).
type selection struct{ service, namespace, template, size string }

// formModel fills the choices the user may pick from.
func (h *Handler) formModel(ctx context.Context, p *authz.Principal, sel selection) (requestsview.Form, error) {
	client := h.Kit.Store.Ent
	f := requestsview.Form{Errors: map[string]string{}, Count: "1", MaxCount: governance.MaxBatchCreate}
	// Services of Systems where the user may create (member, admin, owner).
	var systemIDs []uuid.UUID
	for _, m := range p.Memberships {
		if m.Role != authz.Viewer {
			systemIDs = append(systemIDs, m.SystemID)
		}
	}
	q := client.Service.Query().Where(service.DeletedAtIsNil(), service.HasSystemWith(system.DeletedAtIsNil())).WithSystem()
	if !p.IsPlatformAdmin() {
		q = q.Where(service.SystemIDIn(systemIDs...))
	}
	svcs, err := q.All(ctx)
	if err != nil {
		return f, err
	}
	sort.Slice(svcs, func(i, j int) bool { return label(svcs[i]) < label(svcs[j]) })
	f.NoServices = len(svcs) == 0
	for _, s := range svcs {
		f.Services = append(f.Services, views.Option{Value: s.ID.String(), Label: label(s), Selected: s.ID.String() == sel.service})
	}
	nss, err := catalog.EnabledNamespaces(ctx, client, p.Environments(authz.VMCreate))
	if err != nil {
		return f, err
	}
	f.Namespaces = []views.Option{{Value: "", Label: "Choose a namespace…"}}
	for _, n := range nss {
		f.Namespaces = append(f.Namespaces, views.Option{Value: n.ID.String(), Label: n.Name + " (" + string(n.Environment) + ")", Selected: n.ID.String() == sel.namespace})
	}
	tpls, err := catalog.ActiveTemplates(ctx, client)
	if err != nil {
		return f, err
	}
	for _, t := range tpls {
		name := t.DisplayName
		if name == "" {
			name = t.Name
		}
		f.Templates = append(f.Templates, views.Option{Value: t.ID.String(), Label: fmt.Sprintf("%s (v%d)", name, t.Version), Selected: t.ID.String() == sel.template})
	}
	sizes, err := catalog.EnabledSizes(ctx, client)
	if err != nil {
		return f, err
	}
	f.Sizes = []views.Option{{Value: "", Label: "Choose a size…"}}
	for _, s := range sizes {
		l := catalog.SizeLabel(s)
		if s.RequiresGpu {
			l += " ⚠ GPU"
		}
		f.Sizes = append(f.Sizes, views.Option{Value: s.ID.String(), Label: l, Selected: s.ID.String() == sel.size})
		if s.ID.String() == sel.size {
			f.Size = card(s)
		}
	}
	return f, nil
}

func label(s *ent.Service) string { return s.Edges.System.Name + " / " + s.Name }

func card(s *ent.InstanceSize) *requestsview.SizeCard {
	_, cpuLimit, _, memLimit := catalog.Resources(s)
	cores := cpuLimit + " cores"
	if cpuLimit == "1" {
		cores = "1 core"
	}
	c := &requestsview.SizeCard{Name: s.Name, Label: catalog.SizeLabel(s), CPU: cores, Memory: memLimit,
		Dedicated: s.DedicatedCPU, Hugepages: s.HugepagesSize, DiskMin: s.DiskMinGB, DiskMax: s.DiskMaxGB, DiskDef: s.DiskDefaultGB}
	for i, g := range s.GpuDevices {
		if i > 0 {
			c.GPU += ", "
		}
		c.GPU += g.DeviceName
	}
	return c
}

func (h *Handler) form(c echo.Context) error {
	sel := selection{service: c.QueryParam("service")}
	f, err := h.formModel(c.Request().Context(), page.Principal(c), sel)
	if err != nil {
		return err
	}
	return page.OK(c, requestsview.FormPage(h.Kit.Layout(c, "Request a VM", "requests"), f))
}

// sizeCard is the htmx fragment that follows the size select.
func (h *Handler) sizeCard(c echo.Context) error {
	id, err := uuid.Parse(c.QueryParam("size_id"))
	if err != nil {
		return page.OK(c, requestsview.SizeCardView(nil))
	}
	s, err := h.Kit.Store.Ent.InstanceSize.Get(c.Request().Context(), id)
	if err != nil || !s.Enabled {
		return page.OK(c, requestsview.SizeCardView(nil))
	}
	// Keep the user's disk size when it fits the new size; otherwise offer the default.
	disk := c.QueryParam("disk_gb")
	if n, err := strconv.Atoi(disk); err != nil || n < s.DiskMinGB || n > s.DiskMaxGB {
		disk = strconv.Itoa(s.DiskDefaultGB)
	}
	return page.OK(c, requestsview.SizeCardResponse(card(s), disk))
}

func (h *Handler) submit(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	in := governance.RequestInput{Reason: form.Get("reason")}
	for _, k := range governance.ForbiddenRequestFields {
		if _, present := form[k]; present {
			in.Forbidden = append(in.Forbidden, k)
		}
	}
	sel := selection{service: form.Get("service_id"), namespace: form.Get("namespace_id"), template: form.Get("template_id"), size: form.Get("size_id")}
	in.ServiceID, _ = uuid.Parse(sel.service)
	in.NamespaceID, _ = uuid.Parse(sel.namespace)
	in.TemplateID, _ = uuid.Parse(sel.template)
	in.SizeID, _ = uuid.Parse(sel.size)
	disk, convErr := strconv.Atoi(form.Get("disk_gb"))
	in.DiskGB = disk

	count, countErr := strconv.Atoi(strings.TrimSpace(form.Get("count")))
	if form.Get("count") == "" {
		count, countErr = 1, nil // a form without the field (an older page, a script): one VM
	}
	if countErr != nil || count < 1 || count > governance.MaxBatchCreate {
		err = &domain.ValidationError{Fields: domain.FieldErrors{"count": fmt.Sprintf("Enter a whole number from 1 to %d.", governance.MaxBatchCreate)}}
	} else if count > 1 {
		var b *ent.TicketBatch
		if b, err = h.Gov.SubmitBatch(ctx, who(c), in, count); err == nil {
			page.Flash(c, "success", fmt.Sprintf("Request for %d VMs submitted. An approver will decide them; you will be notified.", count))
			return page.Redirect(c, "/batches/"+b.ID.String())
		}
	} else {
		var t *ent.ApprovalTicket
		if t, err = h.Gov.Submit(ctx, who(c), in); err == nil {
			page.Flash(c, "success", "Request submitted. An approver will decide it; you will be notified.")
			return page.Redirect(c, "/requests/"+t.ID.String())
		}
	}
	f, ferr := h.formModel(ctx, page.Principal(c), sel)
	if ferr != nil {
		return ferr
	}
	f.DiskGB, f.Reason, f.Count = form.Get("disk_gb"), form.Get("reason"), form.Get("count")
	var ve *domain.ValidationError
	var de *domain.Error
	var dup *governance.DuplicateError
	switch {
	case errors.As(err, &ve):
		f.Errors = ve.Fields
		if convErr != nil {
			f.Errors["disk_gb"] = "Enter the disk size in whole GB."
		}
	case errors.As(err, &dup):
		page.Flash(c, "warning", "You already have the same request waiting for approval. Here it is.")
		return page.Redirect(c, "/requests/"+dup.TicketID.String())
	case errors.As(err, &de):
		if de.Field != "" {
			f.Errors[de.Field] = de.Message
		} else {
			f.FormError = de.Message
		}
	default:
		return err
	}
	return page.Render(c, http.StatusUnprocessableEntity, requestsview.FormPage(h.Kit.Layout(c, "Request a VM", "requests"), f))
}
