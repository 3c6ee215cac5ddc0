package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/access"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const usersPath = "/admin/users"

func accessActor(c echo.Context) access.Actor {
	u := page.User(c)
	return access.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}
}

func signInWords(t user.AuthType) string {
	if t == user.AuthTypeLocal {
		return "Local account"
	}
	return "Identity provider"
}

func lastSignIn(u *ent.User) (string, string) {
	if u.LastLoginAt == nil {
		return "Never", ""
	}
	return views.Ago(*u.LastLoginAt), views.Timestamp(*u.LastLoginAt)
}

// users lists users, searched by username, name or email.
func (h *Handler) users(c echo.Context) error {
	query := strings.TrimSpace(c.QueryParam("q"))
	if len(query) > 200 {
		query = query[:200]
	}
	query = strings.ToValidUTF8(query, "")
	pg := page.Paging(c, paging.DefaultPerPage, paging.MaxPerPage)
	rows, total, pg, err := h.Access.ListUsers(c.Request().Context(), accessActor(c), query, pg)
	if err != nil {
		return loadError(err)
	}
	q := url.Values{}
	if query != "" {
		q.Set("q", query)
	}
	m := adminview.UserList{Query: query, ReturnTo: c.Request().URL.RequestURI(), Pager: views.NewPager(pg, total, usersPath, q)}
	for _, r := range rows {
		roles := "No roles"
		if len(r.Roles) > 0 {
			roles = strings.Join(r.Roles, ", ")
		}
		last, lastTitle := lastSignIn(r.User)
		m.Rows = append(m.Rows, adminview.UserRow{
			ID:              r.User.ID.String(),
			Username:        r.User.Username,
			Name:            r.User.DisplayName,
			Email:           r.User.Email,
			SignIn:          signInWords(r.User.AuthType),
			Roles:           roles,
			Disabled:        r.User.Disabled,
			LastSignIn:      last,
			LastSignInTitle: lastTitle,
		})
	}
	return page.OK(c, adminview.UsersPage(h.Kit.Layout(c, "Users", "admin"), h.nav(c, "users"), m))
}

// userPage shows one user.
func (h *Handler) userPage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	return h.renderUser(c, http.StatusOK, id, adminview.GrantForm{Test: true})
}

func bindingSource(b *ent.RoleBinding) string {
	switch b.Source {
	case rolebinding.SourceIdpMapping:
		return "Identity provider group mapping"
	case rolebinding.SourceSeed:
		return "Set up with Shepherd"
	}
	return "Granted by hand"
}

func (h *Handler) renderUser(c echo.Context, status int, id uuid.UUID, grant adminview.GrantForm) error {
	ctx := c.Request().Context()
	d, err := h.Access.User(ctx, accessActor(c), id)
	if err != nil {
		return loadError(err)
	}
	u := d.User
	last, lastTitle := lastSignIn(u)
	m := adminview.UserPage{
		ID:                 u.ID.String(),
		Username:           u.Username,
		Name:               u.DisplayName,
		Email:              u.Email,
		SignIn:             signInWords(u.AuthType),
		Local:              u.AuthType == user.AuthTypeLocal,
		Disabled:           u.Disabled,
		MustChangePassword: u.ForcePasswordChange,
		IsAdmin:            d.IsAdmin,
		LastAdmin:          d.LastAdmin,
		Self:               u.ID == page.User(c).ID,
		LastSignIn:         last,
		LastSignInTitle:    lastTitle,
		Created:            views.Timestamp(u.CreatedAt),
		Grant:              grant,
	}
	systemNames := map[string]string{}
	for _, ms := range d.Memberships {
		systemNames[ms.SystemID.String()] = ms.Edges.System.Name
		m.Memberships = append(m.Memberships, adminview.MembershipRow{SystemID: ms.SystemID.String(), System: ms.Edges.System.Name,
			Role: views.Humanize(string(ms.Role))})
	}
	for _, b := range d.Bindings {
		row := adminview.BindingRow{
			ID:           b.ID.String(),
			RoleID:       b.RoleID.String(),
			Role:         b.Edges.Role.Name,
			Environments: access.EnvironmentsText(b.AllowedEnvironments),
			Scope:        "Everywhere",
			Source:       bindingSource(b),
			SourceKey:    string(b.Source),
			Revocable:    b.Source != rolebinding.SourceIdpMapping,
			GrantedT:     views.Timestamp(b.CreatedAt),
		}
		if b.ScopeType == rolebinding.ScopeTypeSystem {
			row.Scope = "System " + orDash(systemNames[b.ScopeID])
		}
		if !row.Revocable {
			row.NotRevocableWhy = "Rebuilt at each sign-in from their groups"
		} else if d.LastAdmin && access.GrantsAdmin(b.Edges.Role) {
			row.Revocable = false
			row.NotRevocableWhy = "The last platform administrator keeps this role"
		}
		m.Bindings = append(m.Bindings, row)
	}
	if len(m.Grant.Roles) == 0 {
		selected := c.FormValue("role")
		m.Grant.Roles = []views.Option{{Value: "", Label: "Choose a role"}}
		for _, r := range d.Roles {
			label := r.Name
			if !r.IsBuiltin {
				label += " (custom)"
			}
			m.Grant.Roles = append(m.Grant.Roles, views.Option{Value: r.ID.String(), Label: label, Selected: r.ID.String() == selected})
		}
	}
	for _, s := range d.Sessions {
		m.Sessions = append(m.Sessions, adminview.SessionRow{
			Started:       views.Ago(s.CreatedAt),
			StartedTitle:  views.Timestamp(s.CreatedAt),
			LastSeen:      views.Ago(s.LastSeenAt),
			LastSeenTitle: views.Timestamp(s.LastSeenAt),
			Expires:       views.Timestamp(s.ExpiresAt),
		})
	}
	return page.Render(c, status, adminview.UserDetailPage(h.Kit.Layout(c, "User "+u.Username, "admin"), h.nav(c, "users"), m))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func userPath(id uuid.UUID) string { return usersPath + "/" + id.String() }

// setDisabled disables or enables a user.
func (h *Handler) setDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		err = h.Access.SetDisabled(c.Request().Context(), accessActor(c), id, disabled)
		msg := "Enabled: they can sign in again."
		if disabled {
			msg = "Disabled: their sessions have ended and sign-in is refused."
		}
		return actionDone(c, err, msg, userPath(id))
	}
}

// signOutEverywhere ends all sessions of a user.
func (h *Handler) signOutEverywhere(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	n, err := h.Access.SignOutEverywhere(c.Request().Context(), accessActor(c), id)
	return actionDone(c, err, fmt.Sprintf("Signed out everywhere: %s ended.", sessionsText(n)), userPath(id))
}

func sessionsText(n int) string {
	if n == 1 {
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}

func (h *Handler) newUser(c echo.Context) error {
	return page.OK(c, adminview.NewUserPage(h.Kit.Layout(c, "New local account", "admin"), h.nav(c, "users"), adminview.NewUserForm{}))
}

// createUser creates a local account and shows its one-time password, once: the answer
// is the page itself (not a redirect), so the password is never stored anywhere but as
// a hash, and is not cached.
func (h *Handler) createUser(c echo.Context) error {
	f := access.NewLocalUser{Username: c.FormValue("username"), DisplayName: c.FormValue("display_name"), Email: c.FormValue("email")}
	u, secret, err := h.Access.CreateLocal(c.Request().Context(), accessActor(c), f)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		m := adminview.NewUserForm{Username: f.Username, Name: f.DisplayName, Email: f.Email, Errors: errs, Message: msg}
		return page.Render(c, http.StatusUnprocessableEntity, adminview.NewUserPage(h.Kit.Layout(c, "New local account", "admin"), h.nav(c, "users"), m))
	}
	return h.showOneTimePassword(c, adminview.OneTimePassword{UserID: u.ID.String(), Username: u.Username, Password: secret, Created: true})
}

func (h *Handler) showOneTimePassword(c echo.Context, m adminview.OneTimePassword) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return page.OK(c, adminview.OneTimePasswordPage(h.Kit.Layout(c, "One-time password", "admin"), h.nav(c, "users"), m))
}

// resetPassword gives a local account a new one-time password.
func (h *Handler) resetPassword(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u, secret, err := h.Access.ResetPassword(c.Request().Context(), accessActor(c), id)
	if err != nil {
		return actionDone(c, err, "", userPath(id))
	}
	return h.showOneTimePassword(c, adminview.OneTimePassword{UserID: u.ID.String(), Username: u.Username, Password: secret, SessionsEnded: true})
}

// grantRole grants a role by hand; a refused form is shown again on the user's page.
func (h *Handler) grantRole(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	envs := form["environments"]
	g := access.Grant{Environments: envs}
	roleID, perr := uuid.Parse(c.FormValue("role"))
	if perr == nil {
		g.RoleID = roleID
	}
	err = h.Access.GrantRole(c.Request().Context(), accessActor(c), id, g)
	if err == nil {
		page.Flash(c, "success", "Role granted. It applies from their next request.")
		return page.Redirect(c, userPath(id))
	}
	errs, msg, ok, fatal := formProblem(err)
	if !ok {
		return fatal
	}
	gf := adminview.GrantForm{Errors: errs, Message: msg}
	for _, e := range envs {
		gf.Test = gf.Test || e == "test"
		gf.Prod = gf.Prod || e == "prod"
	}
	return h.renderUser(c, http.StatusUnprocessableEntity, id, gf)
}

// revokeBinding removes a binding granted by hand.
func (h *Handler) revokeBinding(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	bid, err := uuid.Parse(c.Param("binding"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	err = h.Access.RevokeBinding(c.Request().Context(), accessActor(c), id, bid)
	return actionDone(c, err, "Role revoked. It no longer applies from their next request.", userPath(id))
}
