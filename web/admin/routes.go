// Package admin is the platform administration area: the catalogues of namespaces,
// clusters, instance sizes and templates that requests and approvals choose from.
package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/access"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/policy"
	"kv-shepherd.io/shepherd/internal/ratelimit"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

// Handler serves the admin pages.
type Handler struct {
	Kit     *page.Kit
	Catalog *catalog.Service
	// Consoles lists and ends console sessions and grants (the Consoles tab).
	Consoles *console.Access
	// Throttle is the sign-in throttle (the Sign-in throttle tab); nil: the default
	// policy on Kit.Store.
	Throttle *auth.Throttle
	// Policies are the auto-approval policies (platform admins).
	Policies *policy.Service
	// Limits are the request and batch limits (the Rate limits tab).
	Limits *ratelimit.Limiter
	// Access administers users, role bindings and custom roles (platform admins).
	Access *access.Service
}

// Register adds the area's routes. Every route checks its permission here, and the use
// cases check it again.
func (h *Handler) Register(r *page.Router) {
	admin := page.RequirePermission(authz.PlatformAdmin, "Namespaces and instance sizes are managed by platform administrators.")
	clusters := page.RequirePermission(authz.ClusterManage, "Managing clusters needs the cluster:manage permission.")
	templates := page.RequirePermission(authz.TemplateManage, "Managing templates needs the template:manage permission.")

	r.App(http.MethodGet, "/admin", h.home, requireAnyCatalogue)

	r.App(http.MethodGet, "/admin/namespaces", h.namespaces, admin)
	r.App(http.MethodGet, "/admin/namespaces/new", h.newNamespace, admin)
	r.App(http.MethodPost, "/admin/namespaces", h.createNamespace, admin)
	r.App(http.MethodGet, "/admin/namespaces/:id/edit", h.editNamespace, admin)
	r.App(http.MethodPost, "/admin/namespaces/:id", h.updateNamespace, admin)
	r.App(http.MethodPost, "/admin/namespaces/:id/enable", h.toggleNamespace(true), admin)
	r.App(http.MethodPost, "/admin/namespaces/:id/disable", h.toggleNamespace(false), admin)

	r.App(http.MethodGet, "/admin/clusters", h.clusters, clusters)
	r.App(http.MethodGet, "/admin/clusters/new", h.newCluster, clusters)
	r.App(http.MethodPost, "/admin/clusters", h.registerCluster, clusters)
	r.App(http.MethodPost, "/admin/clusters/test-connection", h.testConnection, clusters)
	r.App(http.MethodGet, "/admin/clusters/:id", h.clusterPage, clusters)
	r.App(http.MethodGet, "/admin/clusters/:id/edit", h.editCluster, clusters)
	r.App(http.MethodPost, "/admin/clusters/:id", h.updateCluster, clusters)
	r.App(http.MethodPost, "/admin/clusters/:id/enable", h.toggleCluster(true), clusters)
	r.App(http.MethodPost, "/admin/clusters/:id/disable", h.toggleCluster(false), clusters)
	r.App(http.MethodPost, "/admin/clusters/:id/credentials", h.rotateCredentials, clusters)
	r.App(http.MethodPost, "/admin/clusters/:id/delete", h.deleteCluster, clusters)
	r.App(http.MethodGet, "/admin/reconcile", h.reconcile, clusters)

	r.App(http.MethodGet, "/admin/sizes", h.sizes, admin)
	r.App(http.MethodGet, "/admin/sizes/new", h.newSize, admin)
	r.App(http.MethodPost, "/admin/sizes", h.createSize, admin)
	r.App(http.MethodPost, "/admin/sizes/dry-run", h.dryRunSize, admin)
	r.App(http.MethodGet, "/admin/sizes/:id/edit", h.editSize, admin)
	r.App(http.MethodPost, "/admin/sizes/:id", h.updateSize, admin)
	r.App(http.MethodPost, "/admin/sizes/:id/enable", h.toggleSize(true), admin)
	r.App(http.MethodPost, "/admin/sizes/:id/disable", h.toggleSize(false), admin)

	consoles := page.RequirePermission(authz.PlatformAdmin, "Console sessions and grants are managed by platform administrators.")
	r.App(http.MethodGet, consolesPath, h.consoles, consoles)
	r.App(http.MethodPost, consolesPath+"/sessions/:id/end", h.endSession, consoles)
	r.App(http.MethodPost, consolesPath+"/grants/:id/revoke", h.revokeGrant, consoles)

	throttle := page.RequirePermission(authz.PlatformAdmin, "Sign-in throttling is managed by platform administrators.")
	r.App(http.MethodGet, throttlePath, h.signInThrottle, throttle)
	r.App(http.MethodPost, throttlePath+"/clear", h.clearThrottle, throttle)

	if h.Limits != nil {
		limits := page.RequirePermission(authz.PlatformAdmin, "Rate limits are managed by platform administrators.")
		r.App(http.MethodGet, rateLimitsPath, h.rateLimits, limits)
		r.App(http.MethodPost, rateLimitsPath+"/users", h.setUserLimits, limits)
		r.App(http.MethodPost, rateLimitsPath+"/users/:id/delete", h.removeUserLimits, limits)
	}

	if h.Access != nil {
		people := page.RequirePermission(authz.PlatformAdmin, "Users and roles are managed by platform administrators.")
		r.App(http.MethodGet, usersPath, h.users, people)
		r.App(http.MethodGet, usersPath+"/new", h.newUser, people)
		r.App(http.MethodPost, usersPath, h.createUser, people)
		r.App(http.MethodGet, usersPath+"/:id", h.userPage, people)
		r.App(http.MethodPost, usersPath+"/:id/disable", h.setDisabled(true), people)
		r.App(http.MethodPost, usersPath+"/:id/enable", h.setDisabled(false), people)
		r.App(http.MethodPost, usersPath+"/:id/sessions/revoke", h.signOutEverywhere, people)
		r.App(http.MethodPost, usersPath+"/:id/reset-password", h.resetPassword, people)
		r.App(http.MethodPost, usersPath+"/:id/bindings", h.grantRole, people)
		r.App(http.MethodPost, usersPath+"/:id/bindings/:binding/revoke", h.revokeBinding, people)
		r.App(http.MethodGet, rolesPath, h.roles, people)
		r.App(http.MethodGet, rolesPath+"/new", h.newRole, people)
		r.App(http.MethodPost, rolesPath, h.saveRole(true), people)
		r.App(http.MethodGet, rolesPath+"/:id/edit", h.editRole, people)
		r.App(http.MethodPost, rolesPath+"/:id", h.saveRole(false), people)
		r.App(http.MethodPost, rolesPath+"/:id/delete", h.deleteRole, people)
	}

	policies := page.RequirePermission(authz.PlatformAdmin, "Auto-approval policies are managed by platform administrators.")
	r.App(http.MethodGet, policiesPath, h.policies, policies)
	r.App(http.MethodGet, policiesPath+"/new", h.newPolicy, policies)
	r.App(http.MethodPost, policiesPath, h.createPolicy, policies)
	r.App(http.MethodPost, policiesPath+"/dry-run", h.dryRunPolicy, policies)
	r.App(http.MethodPost, policiesPath+"/kill-switch/on", h.killSwitch(true), policies)
	r.App(http.MethodPost, policiesPath+"/kill-switch/off", h.killSwitch(false), policies)
	r.App(http.MethodGet, policiesPath+"/:id", h.policyPage, policies)
	r.App(http.MethodGet, policiesPath+"/:id/edit", h.editPolicy, policies)
	r.App(http.MethodPost, policiesPath+"/:id", h.updatePolicy, policies)
	r.App(http.MethodPost, policiesPath+"/:id/enable", h.togglePolicy(true), policies)
	r.App(http.MethodPost, policiesPath+"/:id/disable", h.togglePolicy(false), policies)
	r.App(http.MethodPost, policiesPath+"/:id/confirm-prod", h.confirmProd, policies)

	r.App(http.MethodGet, "/admin/templates", h.templates, templates)
	r.App(http.MethodGet, "/admin/templates/new", h.newTemplate, templates)
	r.App(http.MethodPost, "/admin/templates", h.createTemplate, templates)
	r.App(http.MethodGet, "/admin/templates/:id", h.templateDetail, templates)
	r.App(http.MethodPost, "/admin/templates/:id", h.updateTemplate, templates)
	r.App(http.MethodPost, "/admin/templates/:id/publish", h.publish, templates)
	r.App(http.MethodPost, "/admin/templates/:id/deprecate", h.templateAction(deprecate), templates)
	r.App(http.MethodPost, "/admin/templates/:id/archive", h.templateAction(archive), templates)
	r.App(http.MethodPost, "/admin/templates/:id/new-version", h.newVersion, templates)
}

// requireAnyCatalogue lets in whoever manages at least one catalogue.
func requireAnyCatalogue(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := page.Principal(c)
		if !p.IsPlatformAdmin() && !p.Has(authz.ClusterManage) && !p.Has(authz.TemplateManage) {
			return echo.NewHTTPError(http.StatusForbidden, "The admin area is for administrators of the platform catalogues.")
		}
		return next(c)
	}
}

// nav builds the tab bar from the user's permissions.
func (h *Handler) nav(c echo.Context, active string) adminview.Nav {
	p := page.Principal(c)
	n := adminview.Nav{Active: active, CSRF: page.StateOf(c).CSRF}
	n.Tabs = append(n.Tabs, adminview.Tab{Key: "home", Label: "Overview", Href: "/admin"})
	if p.IsPlatformAdmin() {
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "namespaces", Label: "Namespaces", Href: "/admin/namespaces"})
	}
	if p.Has(authz.ClusterManage) {
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "clusters", Label: "Clusters", Href: "/admin/clusters"})
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "reconcile", Label: "Cluster sync", Href: "/admin/reconcile"})
	}
	if p.IsPlatformAdmin() {
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "sizes", Label: "Instance sizes", Href: "/admin/sizes"})
	}
	if p.Has(authz.TemplateManage) {
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "templates", Label: "Templates", Href: "/admin/templates"})
	}
	if p.IsPlatformAdmin() {
		if h.Access != nil {
			n.Tabs = append(n.Tabs, adminview.Tab{Key: "users", Label: "Users", Href: usersPath})
			n.Tabs = append(n.Tabs, adminview.Tab{Key: "roles", Label: "Roles", Href: rolesPath})
		}
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "consoles", Label: "Consoles", Href: consolesPath})
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "throttle", Label: "Sign-in throttle", Href: throttlePath})
		n.Tabs = append(n.Tabs, adminview.Tab{Key: "policies", Label: "Auto-approval", Href: policiesPath})
		if h.Limits != nil {
			n.Tabs = append(n.Tabs, adminview.Tab{Key: "ratelimits", Label: "Rate limits", Href: rateLimitsPath})
		}
	}
	n.Tabs = append(n.Tabs, h.identityTabs(p)...)
	return n
}

func actor(c echo.Context) catalog.Actor {
	u := page.User(c)
	return catalog.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}
}

// pathID parses :id; anything malformed is simply not found.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

// formProblem sorts a refused use case for a form: field errors and rule refusals are
// shown on the form (ok), refusals of access and unknown ids become error pages, and
// anything else is a real failure.
func formProblem(err error) (errs adminview.Errors, message string, ok bool, fatal error) {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return adminview.Errors(ve.Fields), "", true, nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		if e := httpError(de); e != nil {
			return nil, "", false, e
		}
		return nil, de.Message, true, nil
	}
	return nil, "", false, err
}

// httpError maps access refusals to 403 and unknown entries to 404; other domain
// errors are nil here (the caller shows them).
func httpError(de *domain.Error) error {
	switch de.Code {
	case domain.CodeForbidden:
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	case domain.CodeNotFound:
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return nil
}

// loadError turns a failed load into 404 when the entry does not exist.
func loadError(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		if e := httpError(de); e != nil {
			return e
		}
	}
	return err
}

// actionDone finishes a one-button POST: PRG with a flash, the refusal as an error
// flash when a rule says no.
func actionDone(c echo.Context, err error, success, back string) error {
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) {
			return err
		}
		if e := httpError(de); e != nil {
			return e
		}
		page.Flash(c, "error", de.Message)
		return page.Redirect(c, back)
	}
	page.Flash(c, "success", success)
	return page.Redirect(c, back)
}

// returnTo keeps the list's filters after an action, accepting only local admin paths.
func returnTo(c echo.Context, fallback string) string {
	if r := page.SafeNext(c.FormValue("return")); strings.HasPrefix(r, "/admin/") {
		return r
	}
	return fallback
}
