package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/policy"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const policiesPath = "/admin/policies"

func policyActor(c echo.Context) policy.Actor {
	u := page.User(c)
	return policy.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}
}

func (h *Handler) policies(c echo.Context) error {
	ctx := c.Request().Context()
	rows, allOff, err := h.Policies.List(ctx)
	if err != nil {
		return err
	}
	m := adminview.PolicyList{AllOff: allOff}
	if allOff {
		m.ChangedBy, err = h.Policies.KillSwitchChangedBy(ctx)
		if err != nil {
			return err
		}
	}
	for _, r := range rows {
		p := r.Policy
		row := adminview.PolicyRow{
			ID:           p.PolicyID.String(),
			Name:         p.Name,
			Version:      p.Version,
			Priority:     p.Priority,
			Enabled:      p.Enabled,
			Environments: strings.Join(p.Environments, ", "),
			Warnings:     r.Warnings,
			Author:       p.AuthorName,
			Updated:      views.Ago(p.CreatedAt),
		}
		if slices.Contains(p.Environments, "prod") {
			row.ProdState = "prod needs a second admin's confirmation"
			if policy.ProdConfirmed(p) {
				row.ProdState = "prod confirmed by " + p.ProdConfirmedByName
			}
		}
		m.Rows = append(m.Rows, row)
	}
	return page.OK(c, adminview.PoliciesPage(h.Kit.Layout(c, "Auto-approval policies", "admin"), h.nav(c, "policies"), m))
}

func (h *Handler) newPolicy(c echo.Context) error {
	return h.policyForm(c, http.StatusOK, "", 0, policy.Input{Environments: []string{"test"}}, nil, "", nil)
}

func (h *Handler) policyForm(c echo.Context, status int, id string, version int, in policy.Input, errs adminview.Errors, msg string, dr *policy.DryRun) error {
	opts, err := h.Policies.FormOptions(c.Request().Context())
	if err != nil {
		return err
	}
	f := adminview.PolicyForm{
		ID:                    id,
		Version:               version,
		Name:                  in.Name,
		Description:           in.Description,
		Priority:              strconv.Itoa(in.Priority),
		Environments:          chosen([]policy.Option{{Value: "test", Label: "test"}, {Value: "prod", Label: "prod"}}, in.Environments),
		Namespaces:            chosen(opts.Namespaces, in.NamespaceIDs),
		Systems:               chosen(opts.Systems, in.SystemIDs),
		Services:              chosen(opts.Services, in.ServiceIDs),
		Sizes:                 chosen(opts.Sizes, in.SizeIDs),
		Templates:             chosen(opts.Templates, in.TemplateNames),
		Roles:                 chosen(opts.Roles, in.RequesterRoles),
		StandardSizesOnly:     in.StandardSizesOnly,
		MaxDiskGB:             strconv.Itoa(in.MaxDiskGB),
		MaxPerRequesterPerDay: strconv.Itoa(in.MaxPerRequesterPerDay),
		MaxPerSystemPerDay:    strconv.Itoa(in.MaxPerSystemPerDay),
		Errors:                errs,
		Message:               msg,
	}
	if dr != nil {
		v := dryRunView(dr)
		f.DryRun = &v
	}
	title := "New policy"
	if id != "" {
		title = "Edit policy " + in.Name
	}
	return page.Render(c, status, adminview.PolicyFormPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "policies"), f))
}

// chosen marks the selected options; values no longer offered (a removed entry) are kept
// as options so that saving the form does not silently drop them.
func chosen(opts []policy.Option, selected []string) []views.Option {
	out := make([]views.Option, 0, len(opts))
	for _, o := range opts {
		out = append(out, views.Option{Value: o.Value, Label: o.Label, Selected: slices.Contains(selected, o.Value)})
	}
	for _, v := range selected {
		if !slices.ContainsFunc(opts, func(o policy.Option) bool { return o.Value == v }) {
			out = append(out, views.Option{Value: v, Label: v + " (no longer available)", Selected: true})
		}
	}
	return out
}

// policyInput parses the form; numbers that do not parse are field errors.
func policyInput(c echo.Context) (policy.Input, adminview.Errors) {
	errs := adminview.Errors{}
	num := func(name string) int {
		v := strings.TrimSpace(c.FormValue(name))
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs[name] = "Enter a whole number."
		}
		return n
	}
	form, _ := c.FormParams()
	in := policy.Input{
		Name:                  strings.TrimSpace(c.FormValue("name")),
		Description:           strings.TrimSpace(c.FormValue("description")),
		Priority:              num("priority"),
		Environments:          form["environments"],
		NamespaceIDs:          form["namespace_ids"],
		SystemIDs:             form["system_ids"],
		ServiceIDs:            form["service_ids"],
		SizeIDs:               form["size_ids"],
		StandardSizesOnly:     c.FormValue("standard_sizes_only") == "on",
		TemplateNames:         form["template_names"],
		RequesterRoles:        form["requester_roles"],
		MaxDiskGB:             num("max_disk_gb"),
		MaxPerRequesterPerDay: num("max_per_requester_per_day"),
		MaxPerSystemPerDay:    num("max_per_system_per_day"),
	}
	if len(errs) > 0 {
		// Show every problem at once, not the unparsable numbers first and the rest later.
		var ve *domain.ValidationError
		if errors.As(in.Validate(), &ve) {
			for field, msg := range ve.Fields {
				if errs[field] == "" {
					errs[field] = msg
				}
			}
		}
	}
	return in, errs
}

func (h *Handler) createPolicy(c echo.Context) error {
	in, errs := policyInput(c)
	if len(errs) > 0 {
		return h.policyForm(c, http.StatusUnprocessableEntity, "", 0, in, errs, "", nil)
	}
	p, err := h.Policies.Create(c.Request().Context(), policyActor(c), in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		return h.policyForm(c, http.StatusUnprocessableEntity, "", 0, in, errs, msg, nil)
	}
	page.Flash(c, "success", "Policy "+p.Name+" saved as a disabled draft. Check its dry run below, then enable it.")
	return page.Redirect(c, policiesPath+"/"+p.PolicyID.String())
}

// dryRunPolicy replays the form's (unsaved) policy and shows the form again with the result.
func (h *Handler) dryRunPolicy(c echo.Context) error {
	in, errs := policyInput(c)
	id, version := "", 0
	if pid, err := uuid.Parse(c.FormValue("policy_id")); err == nil {
		cur, err := h.Policies.Current(c.Request().Context(), pid)
		if err != nil {
			return loadError(err)
		}
		id, version = pid.String(), cur.Version
	}
	if len(errs) > 0 {
		return h.policyForm(c, http.StatusUnprocessableEntity, id, version, in, errs, "", nil)
	}
	if err := in.Validate(); err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		return h.policyForm(c, http.StatusUnprocessableEntity, id, version, in, errs, msg, nil)
	}
	a := policyActor(c)
	dr, err := h.Policies.DryRun(c.Request().Context(), a, policy.Unsaved(in, a.ID))
	if err != nil {
		return loadError(err)
	}
	return h.policyForm(c, http.StatusOK, id, version, in, nil, "", dr)
}

func (h *Handler) loadPolicy(c echo.Context) (*ent.AutoApprovalPolicy, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	p, err := h.Policies.Current(c.Request().Context(), id)
	return p, loadError(err)
}

func (h *Handler) editPolicy(c echo.Context) error {
	p, err := h.loadPolicy(c)
	if err != nil {
		return err
	}
	return h.policyForm(c, http.StatusOK, p.PolicyID.String(), p.Version, policy.InputOf(p), nil, "", nil)
}

func (h *Handler) updatePolicy(c echo.Context) error {
	p, err := h.loadPolicy(c)
	if err != nil {
		return err
	}
	in, errs := policyInput(c)
	if len(errs) > 0 {
		return h.policyForm(c, http.StatusUnprocessableEntity, p.PolicyID.String(), p.Version, in, errs, "", nil)
	}
	saved, err := h.Policies.Update(c.Request().Context(), policyActor(c), p.PolicyID, in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		return h.policyForm(c, http.StatusUnprocessableEntity, p.PolicyID.String(), p.Version, in, errs, msg, nil)
	}
	page.Flash(c, "success", fmt.Sprintf("Policy %s saved as version %d.", saved.Name, saved.Version))
	return page.Redirect(c, policiesPath+"/"+saved.PolicyID.String())
}

func (h *Handler) togglePolicy(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := h.loadPolicy(c)
		if err != nil {
			return err
		}
		err = h.Policies.SetEnabled(c.Request().Context(), policyActor(c), p.PolicyID, enabled)
		return actionDone(c, err, "Policy "+p.Name+" "+enabledWord(enabled)+".", returnTo(c, policiesPath))
	}
}

func (h *Handler) confirmProd(c echo.Context) error {
	p, err := h.loadPolicy(c)
	if err != nil {
		return err
	}
	err = h.Policies.ConfirmProd(c.Request().Context(), policyActor(c), p.PolicyID)
	return actionDone(c, err, "Policy "+p.Name+" confirmed for prod.", policiesPath+"/"+p.PolicyID.String())
}

func (h *Handler) killSwitch(allOff bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := h.Policies.SetKillSwitch(c.Request().Context(), policyActor(c), allOff)
		msg := "Auto-approval policies are in force again."
		if allOff {
			msg = "All auto-approval policies are switched off: every request waits for an approver."
		}
		return actionDone(c, err, msg, policiesPath)
	}
}
