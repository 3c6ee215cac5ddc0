package admin

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

func (h *Handler) home(c echo.Context) error {
	counts, err := h.Catalog.CountAll(c.Request().Context())
	if err != nil {
		return err
	}
	p := page.Principal(c)
	var m adminview.Home
	if p.IsPlatformAdmin() {
		m.Cards = append(m.Cards, adminview.Card{Key: "namespaces", Title: "Namespaces", Href: "/admin/namespaces",
			Count: counts.Namespaces, Detail: fmt.Sprintf("%d enabled", counts.NamespacesEnabled),
			Description: "Logical namespaces per environment; they prefix VM names."})
	}
	if p.Has(authz.ClusterManage) {
		m.Cards = append(m.Cards, adminview.Card{Key: "clusters", Title: "Clusters", Href: "/admin/clusters",
			Count: counts.Clusters, Detail: fmt.Sprintf("%d healthy and enabled", counts.ClustersHealthy),
			Description: "Where approved VMs run, with their storage classes and capabilities."})
		ghosts, orphans, err := reconcile.Counts(c.Request().Context(), h.Catalog.Store.Ent)
		if err != nil {
			return err
		}
		m.Cards = append(m.Cards, adminview.Card{Key: "reconcile", Title: "Cluster sync", Href: "/admin/reconcile",
			Count: ghosts, Detail: syncDetail(ghosts, orphans),
			Description: "Cluster health checks, VMs missing from their cluster and unknown VMs found on one."})
	}
	if p.IsPlatformAdmin() {
		m.Cards = append(m.Cards, adminview.Card{Key: "sizes", Title: "Instance sizes", Href: "/admin/sizes",
			Count: counts.Sizes, Detail: fmt.Sprintf("%d enabled", counts.SizesEnabled),
			Description: "CPU, memory, GPU and disk shapes users pick from."})
	}
	if p.Has(authz.TemplateManage) {
		m.Cards = append(m.Cards, adminview.Card{Key: "templates", Title: "Templates", Href: "/admin/templates",
			Count: counts.TemplateNames, Detail: fmt.Sprintf("%d active", counts.ActiveVersions),
			Description: "OS images with cloud-init, versioned from draft to archived."})
	}
	if p.IsPlatformAdmin() && h.Access != nil {
		users, err := h.Access.CountUsers(c.Request().Context())
		if err != nil {
			return err
		}
		m.Cards = append(m.Cards, adminview.Card{Key: "users", Title: "Users", Href: usersPath,
			Count: users.All, Detail: fmt.Sprintf("%d disabled", users.Disabled),
			Description: "Who may sign in, their roles, sessions and local accounts."})
		m.Cards = append(m.Cards, adminview.Card{Key: "roles", Title: "Roles", Href: rolesPath,
			Count: users.CustomRoles, Detail: "custom roles",
			Description: "Built-in roles and custom ones composed from the permissions."})
	}
	if p.IsPlatformAdmin() {
		card, err := h.consolesCard(c)
		if err != nil {
			return err
		}
		m.Cards = append(m.Cards, card)
		throttle, err := h.throttleCard(c)
		if err != nil {
			return err
		}
		m.Cards = append(m.Cards, throttle)
		policies, err := h.policiesCard(c)
		if err != nil {
			return err
		}
		m.Cards = append(m.Cards, policies)
	}
	return page.OK(c, adminview.HomePage(h.Kit.Layout(c, "Administration", "admin"), h.nav(c, "home"), m))
}

// syncDetail reads after the ghost count: "ghost VMs · 1 orphan".
func syncDetail(ghosts, orphans int) string {
	g, o := "ghost VMs", "orphans"
	if ghosts == 1 {
		g = "ghost VM"
	}
	if orphans == 1 {
		o = "orphan"
	}
	return fmt.Sprintf("%s · %d %s", g, orphans, o)
}

// consolesCard counts open console sessions and running prod grants.
func (h *Handler) consolesCard(c echo.Context) (adminview.Card, error) {
	ctx := c.Request().Context()
	sessions, err := h.Consoles.LiveSessions(ctx)
	if err != nil {
		return adminview.Card{}, err
	}
	grants, err := h.Consoles.ActiveGrants(ctx)
	if err != nil {
		return adminview.Card{}, err
	}
	detail := fmt.Sprintf("open sessions · %d production grants", len(grants))
	if len(sessions) == 1 {
		detail = fmt.Sprintf("open session · %d production grants", len(grants))
	}
	return adminview.Card{Key: "consoles", Title: "Consoles", Href: consolesPath, Count: len(sessions), Detail: detail,
		Description: "Who is on a VM console now, and production console access granted by approvers."}, nil
}
