package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/access"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const rolesPath = "/admin/roles"

// resourceWords names the resource of a permission ("vm:create" → Virtual machines), in
// the order the role form shows them.
var resourceWords = []struct{ Prefix, Words string }{
	{"system", "Systems"},
	{"service", "Services"},
	{"vm", "Virtual machines"},
	{"vnc", "Consoles"},
	{"approval", "Approvals"},
	{"cluster", "Clusters"},
	{"template", "Templates"},
	{"rbac", "Members and roles"},
	{"audit", "Audit log"},
	{"platform", "Platform"},
}

func resourceOf(perm string) string {
	prefix, _, _ := strings.Cut(perm, ":")
	for _, r := range resourceWords {
		if r.Prefix == prefix {
			return r.Words
		}
	}
	return "Other"
}

func resourceRank(perm string) int {
	prefix, _, _ := strings.Cut(perm, ":")
	for i, r := range resourceWords {
		if r.Prefix == prefix {
			return i
		}
	}
	return len(resourceWords)
}

func permissionTexts(r *ent.Role) []adminview.PermissionText {
	var out []adminview.PermissionText
	for _, p := range r.Edges.Permissions {
		text := p.Description
		if text == "" {
			text = p.ID
		}
		out = append(out, adminview.PermissionText{ID: p.ID, Text: text})
	}
	// By resource, in the role form's order, so the list reads like the checkboxes.
	slices.SortFunc(out, func(a, b adminview.PermissionText) int {
		if d := resourceRank(a.ID) - resourceRank(b.ID); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// roles lists built-in and custom roles.
func (h *Handler) roles(c echo.Context) error {
	list, err := h.Access.Roles(c.Request().Context(), accessActor(c))
	if err != nil {
		return loadError(err)
	}
	var m adminview.RoleList
	for _, s := range list {
		row := adminview.RoleRow{ID: s.Role.ID.String(), Name: s.Role.Name, Description: s.Role.Description,
			Builtin: s.Role.IsBuiltin, Holders: s.Holders, Permissions: permissionTexts(s.Role)}
		if row.Builtin {
			m.Builtin = append(m.Builtin, row)
		} else {
			m.Custom = append(m.Custom, row)
		}
	}
	return page.OK(c, adminview.RolesPage(h.Kit.Layout(c, "Roles", "admin"), h.nav(c, "roles"), m))
}

// roleGroups builds the permission checkboxes, grouped by resource.
func (h *Handler) roleGroups(c echo.Context, checked []string) ([]adminview.PermissionGroup, error) {
	perms, err := h.Access.GrantablePermissions(c.Request().Context())
	if err != nil {
		return nil, err
	}
	var groups []adminview.PermissionGroup
	for _, rw := range resourceWords {
		g := adminview.PermissionGroup{Resource: rw.Words}
		for _, p := range perms {
			if resourceOf(p.ID) == rw.Words {
				g.Items = append(g.Items, adminview.PermissionChoice{ID: p.ID, Text: p.Description, Checked: slices.Contains(checked, p.ID)})
			}
		}
		if len(g.Items) > 0 {
			groups = append(groups, g)
		}
	}
	return groups, nil
}

func (h *Handler) roleForm(c echo.Context, status int, f adminview.RoleForm, checked []string) error {
	groups, err := h.roleGroups(c, checked)
	if err != nil {
		return err
	}
	f.Groups = groups
	title := "New custom role"
	if f.ID != "" {
		title = "Role " + f.Name
	}
	return page.Render(c, status, adminview.RoleFormPage(h.Kit.Layout(c, title, "admin"), h.nav(c, "roles"), f))
}

func (h *Handler) newRole(c echo.Context) error {
	return h.roleForm(c, http.StatusOK, adminview.RoleForm{}, nil)
}

func (h *Handler) editRole(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	s, err := h.Access.Role(c.Request().Context(), accessActor(c), id)
	if err != nil {
		return loadError(err)
	}
	if s.Role.IsBuiltin {
		page.Flash(c, "info", s.Role.Name+" is a built-in role and cannot be changed. Create a custom role instead.")
		return page.Redirect(c, rolesPath)
	}
	var checked []string
	for _, p := range s.Role.Edges.Permissions {
		checked = append(checked, p.ID)
	}
	return h.roleForm(c, http.StatusOK, adminview.RoleForm{ID: id.String(), Name: s.Role.Name, Description: s.Role.Description,
		Holders: s.Holders}, checked)
}

func roleInput(c echo.Context) (access.RoleForm, error) {
	form, err := c.FormParams()
	if err != nil {
		return access.RoleForm{}, echo.NewHTTPError(http.StatusBadRequest)
	}
	return access.RoleForm{Name: c.FormValue("name"), Description: c.FormValue("description"), Permissions: form["permissions"]}, nil
}

// saveRole creates (id empty) or updates a custom role.
func (h *Handler) saveRole(create bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		in, err := roleInput(c)
		if err != nil {
			return err
		}
		var id uuid.UUID
		if !create {
			if id, err = pathID(c); err != nil {
				return err
			}
		}
		var r *ent.Role
		if create {
			r, err = h.Access.CreateRole(c.Request().Context(), accessActor(c), in)
		} else {
			r, err = h.Access.UpdateRole(c.Request().Context(), accessActor(c), id, in)
		}
		if err == nil {
			page.Flash(c, "success", "Saved role "+r.Name+". It applies at once to everyone holding it.")
			return page.Redirect(c, rolesPath+"#role-"+r.ID.String())
		}
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		f := adminview.RoleForm{Name: in.Name, Description: in.Description, Errors: errs, Message: msg}
		if !create {
			f.ID = id.String()
		}
		return h.roleForm(c, http.StatusUnprocessableEntity, f, in.Permissions)
	}
}

// deleteRole deletes a custom role nobody holds.
func (h *Handler) deleteRole(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = h.Access.DeleteRole(c.Request().Context(), accessActor(c), id)
	return actionDone(c, err, "Role deleted.", rolesPath)
}
