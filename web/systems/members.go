package systems

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/systemsview"
	"kv-shepherd.io/shepherd/web/page"
)

// members is GET /systems/:id/members (owner/admin; 403 for other viewers, 404 when invisible).
func (h *Handler) members(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return h.renderMembers(c, http.StatusOK, id, systemsview.MembersPage{})
}

// renderMembers draws the members page; refused changes pass their errors in m.
func (h *Handler) renderMembers(c echo.Context, status int, id uuid.UUID, m systemsview.MembersPage) error {
	mp, err := h.Systems.ListMembers(c.Request().Context(), page.Principal(c), id)
	if err != nil {
		return httpError(err)
	}
	m.SystemName, m.SystemURL = mp.System.Name, systemURL(mp.System.ID)
	m.BaseURL = m.SystemURL + "/members"
	m.CanTransfer = mp.CanTransfer
	m.Roles = roleOptions()
	if m.AddRole == "" {
		m.AddRole = "member"
	}
	m.Transfer = nil
	for _, mb := range mp.Members {
		m.Members = append(m.Members, systemsview.MemberRow{UserID: mb.UserID.String(), Name: mb.Name, Username: mb.Username,
			Email: mb.Email, Role: mb.Role, GrantedBy: mb.GrantedBy, Since: mb.Since, Editable: mb.Editable})
		if mb.Editable {
			m.Transfer = append(m.Transfer, views.Option{Value: mb.UserID.String(), Label: mb.Name + " (" + mb.Role + ")"})
		}
	}
	return page.Render(c, status, systemsview.Members(h.Kit.Layout(c, "Members of "+mp.System.Name, "systems"), m))
}

func roleOptions() []views.Option {
	out := make([]views.Option, 0, len(systems.GrantableRoles))
	for _, r := range systems.GrantableRoles {
		out = append(out, views.Option{Value: string(r), Label: string(r)})
	}
	return out
}

// searchMembers is GET /systems/:id/members/search?q= (htmx): options for the person select.
func (h *Handler) searchMembers(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	q := c.QueryParam("q")
	cands, err := h.Systems.SearchCandidates(c.Request().Context(), page.Principal(c), id, q)
	if err != nil {
		return httpError(err)
	}
	out := make([]systemsview.Candidate, 0, len(cands))
	for _, cd := range cands {
		label := cd.Name + " (" + cd.Username
		if cd.Email != "" {
			label += ", " + cd.Email
		}
		out = append(out, systemsview.Candidate{ID: cd.UserID.String(), Label: label + ")"})
	}
	return page.OK(c, systemsview.CandidateOptions(out, q))
}

// addMember is POST /systems/:id/members (user_id, role).
func (h *Handler) addMember(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	in := systems.MemberInput{UserID: c.FormValue("user_id"), Role: c.FormValue("role")}
	err = h.Systems.AddMember(c.Request().Context(), actor(c), id, in)
	return h.afterMemberChange(c, id, err, "Member added.", in.Role)
}

// changeMemberRole is POST /systems/:id/members/:user/role.
func (h *Handler) changeMemberRole(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	uid, err := idParam(c, "user")
	if err != nil {
		return err
	}
	err = h.Systems.ChangeMemberRole(c.Request().Context(), actor(c), id, uid, c.FormValue("role"))
	return h.afterMemberChange(c, id, err, "Role changed.", "")
}

// removeMember is POST /systems/:id/members/:user/remove.
func (h *Handler) removeMember(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	uid, err := idParam(c, "user")
	if err != nil {
		return err
	}
	err = h.Systems.RemoveMember(c.Request().Context(), actor(c), id, uid)
	return h.afterMemberChange(c, id, err, "Member removed.", "")
}

// transferOwnership is POST /systems/:id/transfer (new_owner).
func (h *Handler) transferOwnership(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	err = h.Systems.TransferOwnership(c.Request().Context(), actor(c), id, c.FormValue("new_owner"))
	return h.afterMemberChange(c, id, err, "Ownership transferred; the previous owner is now an admin.", "")
}

// afterMemberChange is PRG on success, the page with errors (422) on a refused form.
func (h *Handler) afterMemberChange(c echo.Context, id uuid.UUID, err error, ok, role string) error {
	if fe := fieldErrors(err); fe != nil {
		return h.renderMembers(c, http.StatusUnprocessableEntity, id, systemsview.MembersPage{Errors: fe, AddRole: role})
	}
	if err != nil {
		return httpError(err)
	}
	page.Flash(c, "success", ok)
	return page.Redirect(c, systemURL(id)+"/members")
}
