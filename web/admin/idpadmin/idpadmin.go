// Package idpadmin is the Identity providers area of the admin pages: the providers
// people sign in with, their discovery test, and each provider's group mapping grid.
// Platform admins only; every change is audited by the use cases in internal/idp.
package idpadmin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/views/idpview"
	"kv-shepherd.io/shepherd/web/page"
)

// Path is the area's address.
const Path = "/admin/identity-providers"

// Handler serves the Identity providers pages.
type Handler struct {
	Kit *page.Kit
	IdP *idp.Service
	// Nav builds the admin tab bar (nil: no tabs).
	Nav func(c echo.Context, active string) adminview.Nav
}

// Register adds the area's routes, each for platform admins only.
func (h *Handler) Register(r *page.Router) {
	admins := page.RequirePermission(authz.PlatformAdmin, "Identity providers are managed by platform administrators.")
	r.App(http.MethodGet, Path, h.list, admins)
	r.App(http.MethodGet, Path+"/new", h.newForm, admins)
	r.App(http.MethodPost, Path, h.create, admins)
	r.App(http.MethodPost, Path+"/test-discovery", h.testDiscovery, admins)
	r.App(http.MethodGet, Path+"/:key", h.detail, admins)
	r.App(http.MethodPost, Path+"/:key", h.update, admins)
	r.App(http.MethodPost, Path+"/:key/test-discovery", h.testProvider, admins)
	r.App(http.MethodPost, Path+"/:key/enable", h.toggle(true), admins)
	r.App(http.MethodPost, Path+"/:key/disable", h.toggle(false), admins)
	r.App(http.MethodPost, Path+"/:key/delete", h.remove, admins)
	r.App(http.MethodPost, Path+"/:key/mappings", h.createMapping, admins)
	r.App(http.MethodPost, Path+"/:key/mappings/:id", h.updateMapping, admins)
	r.App(http.MethodPost, Path+"/:key/mappings/:id/delete", h.deleteMapping, admins)
	r.App(http.MethodPost, Path+"/:key/reevaluate", h.reevaluate, admins)
}

func (h *Handler) nav(c echo.Context) adminview.Nav {
	if h.Nav != nil {
		return h.Nav(c, "idp")
	}
	return adminview.Nav{Active: "idp", CSRF: page.StateOf(c).CSRF}
}

func actor(c echo.Context) idp.Actor {
	u := page.User(c)
	return idp.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}
}

func (h *Handler) callbackURL() string { return h.Kit.Config.BaseURL + "/api/v1/auth/oidc/callback" }

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// state says in words how the provider answered lately.
func state(v idp.ProviderView) (string, string, string) {
	if v.Status == nil || v.Status.State == "unchecked" {
		if !v.Enabled {
			return "Disabled", "status-muted", ""
		}
		return "Not checked yet", "status-muted", "Checked at the first sign-in through it (or with Test discovery)."
	}
	at := v.Status.CheckedAt.UTC().Format("15:04 UTC")
	switch v.Status.State {
	case "ok":
		return "Working", "status-ok", "Last answered correctly at " + at + " (on this server)."
	case "unreachable":
		return "Cannot be reached", "status-warning", "At " + at + ": " + v.Status.Error
	case "misconfigured":
		note := "At " + at + ": " + v.Status.Error
		if v.Status.Setting != "" && v.FromConfig {
			note += " (setting " + v.Status.Setting + ")"
		}
		return "Misconfigured", "status-error", note
	}
	return v.Status.State, "", v.Status.Error
}

func (h *Handler) list(c echo.Context) error {
	views, err := h.IdP.Providers(c.Request().Context())
	if err != nil {
		return err
	}
	m := idpview.List{CSRF: page.StateOf(c).CSRF, CallbackURL: h.callbackURL()}
	for _, v := range views {
		st, class, _ := state(v)
		sign := "Offered on the sign-in page"
		switch {
		case v.FromConfig:
			sign = "From settings"
		case !v.Enabled:
			sign = "Disabled"
		}
		m.Rows = append(m.Rows, idpview.Row{Key: v.Key, Label: v.Label, Issuer: v.Issuer, Href: Path + "/" + v.Key, Status: st,
			StatusClass: class, Sign: sign, Users: v.Users, LastSignIn: when(v.LastSignIn)})
	}
	return page.OK(c, idpview.ListPage(h.Kit.Layout(c, "Identity providers", "admin"), h.nav(c), m))
}

func (h *Handler) newForm(c echo.Context) error {
	f := idpview.Form{Create: true, Scopes: "profile email", GroupsClaim: "groups", CallbackURL: h.callbackURL()}
	return page.OK(c, idpview.NewPage(h.Kit.Layout(c, "Add an identity provider", "admin"), h.nav(c), f))
}

func formInput(c echo.Context) idp.Input {
	v, _ := strconv.Atoi(c.FormValue("version"))
	return idp.Input{
		Key:          c.FormValue("key"),
		Label:        c.FormValue("label"),
		Issuer:       c.FormValue("issuer"),
		ClientID:     c.FormValue("client_id"),
		ClientSecret: c.FormValue("client_secret"),
		Scopes:       c.FormValue("scopes"),
		GroupsClaim:  c.FormValue("groups_claim"),
		Version:      v,
	}
}

// formOf refills the form from what was submitted, never the secret.
func (h *Handler) formOf(in idp.Input, create bool) idpview.Form {
	return idpview.Form{
		Create:      create,
		Key:         in.Key,
		Label:       in.Label,
		Issuer:      in.Issuer,
		ClientID:    in.ClientID,
		Scopes:      in.Scopes,
		GroupsClaim: in.GroupsClaim,
		Version:     in.Version,
		CallbackURL: h.callbackURL(),
	}
}

// refused sorts a use case's refusal: form problems (ok) or an error page.
func refused(err error) (map[string]string, string, bool, error) {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Fields, "", true, nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		switch de.Code {
		case domain.CodeForbidden:
			return nil, "", false, echo.NewHTTPError(http.StatusForbidden, de.Message)
		case domain.CodeNotFound:
			return nil, "", false, echo.NewHTTPError(http.StatusNotFound)
		}
		return nil, de.Message, true, nil
	}
	return nil, "", false, err
}

func (h *Handler) create(c echo.Context) error {
	in := formInput(c)
	p, err := h.IdP.Create(c.Request().Context(), actor(c), in)
	if err != nil {
		errs, msg, ok, fatal := refused(err)
		if !ok {
			return fatal
		}
		f := h.formOf(in, true)
		f.Errors, f.Message, f.SecretRetype = errs, msg, in.ClientSecret != ""
		return page.Render(c, http.StatusUnprocessableEntity, idpview.NewPage(h.Kit.Layout(c, "Add an identity provider", "admin"), h.nav(c), f))
	}
	page.Flash(c, "success", "Added "+p.Label+". It is offered on the sign-in page; map its groups below.")
	return page.Redirect(c, Path+"/"+p.Key)
}

func discoveryView(r idp.DiscoveryResult) *idpview.Discovery {
	return &idpview.Discovery{
		OK:            r.OK,
		Problem:       r.Problem,
		Issuer:        r.Issuer,
		Authorization: r.Authorization,
		Token:         r.Token,
		UserInfo:      r.UserInfo,
		EndSession:    r.EndSession,
		JWKS:          r.JWKS,
		Keys:          r.Keys,
		Skipped:       r.Skipped,
	}
}

// testDiscovery checks the issuer typed in the add (or edit) form: with htmx only the
// result is swapped in (the form keeps the secret); without script the form comes back
// with the result and asks for the secret again.
func (h *Handler) testDiscovery(c echo.Context) error {
	in := formInput(c)
	r, err := h.IdP.TestDiscovery(c.Request().Context(), actor(c), in.Issuer)
	if err != nil {
		_, _, _, fatal := refused(err)
		return fatal
	}
	if page.IsHTMX(c) {
		return page.OK(c, idpview.DiscoveryPanel(*discoveryView(r)))
	}
	if edit := c.FormValue("edit_key"); edit != "" {
		return h.detailPageOf(c, edit, http.StatusOK, func(m *idpview.Detail) {
			f := h.formOf(in, false)
			f.Key, f.Discovery, f.SecretRetype = edit, discoveryView(r), in.ClientSecret != ""
			m.Edit = f
		})
	}
	f := h.formOf(in, true)
	f.Discovery = discoveryView(r)
	f.SecretRetype = in.ClientSecret != ""
	return page.OK(c, idpview.NewPage(h.Kit.Layout(c, "Add an identity provider", "admin"), h.nav(c), f))
}

func (h *Handler) testProvider(c echo.Context) error {
	v, err := h.IdP.Provider(c.Request().Context(), c.Param("key"))
	if err != nil {
		_, _, _, fatal := refused(err)
		return fatal
	}
	r, err := h.IdP.TestDiscovery(c.Request().Context(), actor(c), v.Issuer)
	if err != nil {
		_, _, _, fatal := refused(err)
		return fatal
	}
	return h.detailPage(c, http.StatusOK, func(m *idpview.Detail) { m.Discovery = discoveryView(r) })
}

func (h *Handler) detail(c echo.Context) error {
	return h.detailPage(c, http.StatusOK, nil)
}

// detailPage renders a provider's page; adjust fills in a refused form or a result.
func (h *Handler) detailPage(c echo.Context, status int, adjust func(*idpview.Detail)) error {
	return h.detailPageOf(c, c.Param("key"), status, adjust)
}

func (h *Handler) detailPageOf(c echo.Context, key string, status int, adjust func(*idpview.Detail)) error {
	ctx := c.Request().Context()
	v, err := h.IdP.Provider(ctx, key)
	if err != nil {
		_, _, _, fatal := refused(err)
		return fatal
	}
	g, err := h.IdP.Grid(ctx, key)
	if err != nil {
		return err
	}
	st, _, note := state(v)
	m := idpview.Detail{
		CSRF:       page.StateOf(c).CSRF,
		Key:        v.Key,
		Label:      v.Label,
		FromConfig: v.FromConfig,
		Enabled:    v.Enabled,
		Issuer:     v.Issuer,
		ClientID:   v.ClientID,
		Scopes:     strings.Join(append([]string{"openid"}, v.Scopes...), " "),
		Claim:      v.Claim,
		Status:     st,
		StatusNote: note,
		LastSignIn: when(v.LastSignIn),
		Users:      v.Users,
		NewMapping: idpview.MappingForm{Test: true},
	}
	if v.Row != nil {
		m.Edit = idpview.Form{Key: v.Key, Label: v.Label, Issuer: v.Issuer, ClientID: v.ClientID, Scopes: strings.Join(v.Scopes, " "),
			GroupsClaim: v.Claim, Version: v.Row.Version, HasSecret: v.Row.ClientSecretSealed != "", CallbackURL: h.callbackURL()}
	}
	for _, r := range g.Roles {
		m.Roles = append(m.Roles, idpview.Option{Value: r.ID.String(), Label: r.Name})
	}
	for _, sy := range g.Systems {
		m.Systems = append(m.Systems, idpview.Option{Value: sy.ID.String(), Label: sy.Name})
	}
	for _, mp := range g.Mappings {
		row := idpview.MappingRow{
			ID:         mp.ID.String(),
			Group:      mp.Group,
			RoleID:     mp.RoleID.String(),
			Role:       mp.RoleName,
			Test:       slices.Contains(mp.Environments, "test"),
			Prod:       slices.Contains(mp.Environments, "prod"),
			Version:    mp.Version,
			System:     mp.SystemName,
			MemberRole: mp.MemberRole,
		}
		if mp.SystemID != uuid.Nil {
			row.SystemID = mp.SystemID.String()
		}
		m.Mappings = append(m.Mappings, row)
	}
	for _, s := range g.Seen {
		m.Seen = append(m.Seen, idpview.Seen{Name: s.Name, LastSeen: s.LastSeen.UTC().Format("2 Jan 2006 15:04 UTC"), Mapped: s.Mapped})
	}
	if adjust != nil {
		adjust(&m)
	}
	return page.Render(c, status, idpview.DetailPage(h.Kit.Layout(c, v.Label+" — identity provider", "admin"), h.nav(c), m))
}

func (h *Handler) update(c echo.Context) error {
	in := formInput(c)
	key := c.Param("key")
	if key == auth.DefaultProviderName {
		return echo.NewHTTPError(http.StatusConflict, "The provider configured from settings is changed in the settings (SHEPHERD_OIDC_*).")
	}
	p, err := h.IdP.Update(c.Request().Context(), actor(c), key, in)
	if err != nil {
		errs, msg, ok, fatal := refused(err)
		if !ok {
			return fatal
		}
		return h.detailPage(c, http.StatusUnprocessableEntity, func(m *idpview.Detail) {
			f := h.formOf(in, false)
			f.Key = key
			f.Errors, f.Message, f.SecretRetype = errs, msg, in.ClientSecret != ""
			if msg != "" {
				m.Problem = msg
				f.Message = ""
			}
			m.Edit = f
		})
	}
	secret := ""
	if in.ClientSecret != "" {
		secret = " The new client secret is stored encrypted."
	}
	page.Flash(c, "success", "Saved "+p.Label+"."+secret)
	return page.Redirect(c, Path+"/"+p.Key)
}

// done finishes a one-button POST: PRG with a flash, a rule's refusal as an error flash.
func done(c echo.Context, err error, success, back string) error {
	if err != nil {
		_, msg, ok, fatal := refused(err)
		if !ok {
			return fatal
		}
		page.Flash(c, "error", msg)
		return page.Redirect(c, back)
	}
	page.Flash(c, "success", success)
	return page.Redirect(c, back)
}

func (h *Handler) toggle(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Param("key")
		if key == auth.DefaultProviderName {
			return echo.NewHTTPError(http.StatusConflict, "The provider configured from settings is changed in the settings (SHEPHERD_OIDC_*).")
		}
		p, err := h.IdP.SetEnabled(c.Request().Context(), actor(c), key, enabled)
		msg := ""
		if err == nil {
			msg = p.Label + " is disabled: it is no longer offered and sign-ins through it are refused."
			if enabled {
				msg = p.Label + " is enabled and offered on the sign-in page."
			}
		}
		return done(c, err, msg, Path+"/"+key)
	}
}

func (h *Handler) remove(c echo.Context) error {
	key := c.Param("key")
	if key == auth.DefaultProviderName {
		return echo.NewHTTPError(http.StatusConflict, "The provider configured from settings is removed in the settings (SHEPHERD_OIDC_*).")
	}
	p, err := h.IdP.Delete(c.Request().Context(), actor(c), key)
	if err != nil {
		return done(c, err, "", Path+"/"+key)
	}
	return done(c, nil, "Deleted "+p.Label+" and its group mappings.", Path)
}

func mappingInput(c echo.Context) (idp.MappingInput, error) {
	form, err := c.FormParams()
	if err != nil {
		return idp.MappingInput{}, err
	}
	v, _ := strconv.Atoi(form.Get("version"))
	return idp.MappingInput{
		Group:        form.Get("group"),
		RoleID:       form.Get("role"),
		Environments: form["environments"],
		SystemID:     form.Get("system"),
		MemberRole:   form.Get("member_role"),
		Version:      v,
	}, nil
}

func (h *Handler) createMapping(c echo.Context) error {
	in, err := mappingInput(c)
	if err != nil {
		return err
	}
	key := c.Param("key")
	_, err = h.IdP.CreateMapping(c.Request().Context(), actor(c), key, in)
	if err != nil {
		errs, msg, ok, fatal := refused(err)
		if !ok {
			return fatal
		}
		return h.detailPage(c, http.StatusUnprocessableEntity, func(m *idpview.Detail) {
			m.Problem = msg
			m.NewMapping = idpview.MappingForm{
				Group:      in.Group,
				RoleID:     in.RoleID,
				Errors:     errs,
				Test:       slices.Contains(in.Environments, "test"),
				Prod:       slices.Contains(in.Environments, "prod"),
				SystemID:   in.SystemID,
				MemberRole: in.MemberRole,
			}
		})
	}
	page.Flash(c, "success", fmt.Sprintf("Mapped group %s. It applies at each user's next sign-in, or now with Re-evaluate signed-in users.", strings.TrimSpace(in.Group)))
	return page.Redirect(c, Path+"/"+key+"#mappings")
}

func mappingID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

func (h *Handler) updateMapping(c echo.Context) error {
	id, err := mappingID(c)
	if err != nil {
		return err
	}
	in, err := mappingInput(c)
	if err != nil {
		return err
	}
	key := c.Param("key")
	_, err = h.IdP.UpdateMapping(c.Request().Context(), actor(c), key, id, in)
	if err != nil {
		errs, msg, ok, fatal := refused(err)
		if !ok {
			return fatal
		}
		return h.detailPage(c, http.StatusUnprocessableEntity, func(m *idpview.Detail) {
			m.Problem = msg
			for _, f := range []string{"group", "role", "environments", "system", "member_role"} {
				if e := errs[f]; e != "" {
					m.Problems = append(m.Problems, "Mapping of "+strings.TrimSpace(in.Group)+": "+e)
				}
			}
		})
	}
	page.Flash(c, "success", "Saved the mapping of "+strings.TrimSpace(in.Group)+".")
	return page.Redirect(c, Path+"/"+key+"#mappings")
}

func (h *Handler) deleteMapping(c echo.Context) error {
	id, err := mappingID(c)
	if err != nil {
		return err
	}
	v, _ := strconv.Atoi(c.FormValue("version"))
	key := c.Param("key")
	group, err := h.IdP.DeleteMapping(c.Request().Context(), actor(c), key, id, v)
	return done(c, err, "Deleted the mapping of "+group+".", Path+"/"+key+"#mappings")
}

func (h *Handler) reevaluate(c echo.Context) error {
	key := c.Param("key")
	n, err := h.IdP.Reevaluate(c.Request().Context(), actor(c), key)
	msg := fmt.Sprintf("Re-evaluated %d signed-in user(s): their roles now follow the current mappings.", n)
	if n == 0 {
		msg = "No user of this provider has an open session; the mappings apply at their next sign-in."
	}
	return done(c, err, msg, Path+"/"+key+"#mappings")
}
