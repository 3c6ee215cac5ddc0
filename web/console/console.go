// Package console is the VM console area: the console page, the one-time ticket it
// asks for, and the websocket that Shepherd proxies to the VM's VNC stream.
package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	uc "kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/views/consoleview"
	"kv-shepherd.io/shepherd/web/page"
)

// ticketCookie carries the one-time ticket from the ticket POST to the websocket: never
// in a URL (URLs reach logs and browser history), HttpOnly, scoped to the VM's
// websocket path, SameSite=Strict, and good for the ticket's start window only.
const ticketCookie = "shepherd_console"

// Handler serves the console area.
type Handler struct {
	Kit    *page.Kit
	Access *uc.Access
	Hub    *uc.Hub
	// Upgrader checks the Origin against the public URL (console.NewUpgrader).
	Upgrader *websocket.Upgrader
	// PendingRequest finds the viewer's access request awaiting an approver (prod),
	// nil when the governance area does not offer one.
	PendingRequest func(c echo.Context, vmID uuid.UUID) (string, error)
}

// Register adds the area's routes.
func (h *Handler) Register(r *page.Router) {
	need := page.RequirePermission(authz.VMRead, "Seeing VMs needs the vm:read permission.")
	r.App(http.MethodGet, "/vms/:id/console", h.page, need)
	r.App(http.MethodPost, "/vms/:id/console/ticket", h.ticket, need)
	r.App(http.MethodGet, "/vms/:id/console/ws", h.socket, need)
}

func viewer(c echo.Context) uc.Viewer {
	u := page.User(c)
	return uc.Viewer{UserID: u.ID, Username: u.Username, Principal: page.Principal(c)}
}

func vmID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

func (h *Handler) page(c echo.Context) error {
	id, err := vmID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, err := h.Access.State(ctx, viewer(c), id)
	if errors.Is(err, uc.ErrVMNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	v := st.VM
	client := h.Kit.Store.Ent
	m := consoleview.Console{
		VMID:       v.ID.String(),
		VMName:     v.Name,
		Namespace:  v.NamespaceName,
		Env:        string(v.Environment),
		VMURL:      "/vms/" + v.ID.String(),
		SystemURL:  "/systems/" + v.SystemID.String(),
		ServiceURL: "/services/" + v.ServiceID.String(),
		CSRF:       page.StateOf(c).CSRF,
		CanOpen:    st.CanOpen,
		Problem:    st.Problem,
		NeedsGrant: st.NeedsGrant,
		RequestURL: "/vms/" + v.ID.String() + "/console/request",
		EndsAt:     st.EndsAt.UTC().Format(time.RFC3339),
		Connect:    c.QueryParam("connect") == "1",
	}
	if s, err := client.System.Get(ctx, v.SystemID); err == nil {
		m.System = s.Name
	}
	if s, err := client.Service.Get(ctx, v.ServiceID); err == nil {
		m.Service = s.Name
	}
	if st.Holder != nil {
		m.Holder, m.HolderSince = st.Holder.UserName, st.Holder.OpenedAt.UTC().Format("15:04 MST")
	}
	if st.Grant != nil {
		m.GrantEnds = "until " + st.Grant.ExpiresAt.UTC().Format("15:04 MST") + " by " + st.Grant.GrantedBy
	}
	if st.NeedsGrant && h.PendingRequest != nil {
		if m.PendingRequestURL, err = h.PendingRequest(c, v.ID); err != nil {
			return err
		}
	}
	return page.OK(c, consoleview.Page(h.Kit.Layout(c, "Console of "+v.Name, "vms"), m))
}

// ticket issues a one-time ticket in a cookie only the VM's websocket path receives.
// The page's script calls it (X-Console-Fetch) and gets 204 or a JSON problem; a plain
// form post is redirected back to the page, which then connects.
func (h *Handler) ticket(c echo.Context) error {
	id, err := vmID(c)
	if err != nil {
		return err
	}
	fetch := c.Request().Header.Get("X-Console-Fetch") == "1"
	token, t, err := h.Access.IssueTicket(c.Request().Context(), viewer(c), id, c.FormValue("take_over") == "1")
	if err != nil {
		return h.refused(c, err, fetch, id)
	}
	c.SetCookie(&http.Cookie{
		Name:     ticketCookie,
		Value:    token,
		Path:     "/vms/" + id.String() + "/console/ws",
		Expires:  t.ExpiresAt,
		MaxAge:   int(time.Until(t.ExpiresAt).Seconds()) + 1,
		HttpOnly: true,
		Secure:   h.Kit.Config.SecureCookies(),
		SameSite: http.SameSiteStrictMode,
	})
	if fetch {
		return c.NoContent(http.StatusNoContent)
	}
	return page.Redirect(c, "/vms/"+id.String()+"/console?connect=1")
}

func (h *Handler) refused(c echo.Context, err error, fetch bool, id uuid.UUID) error {
	var de *domain.Error
	switch {
	case errors.Is(err, uc.ErrVMNotFound) && fetch:
		return c.JSON(http.StatusNotFound, map[string]string{"code": domain.CodeNotFound, "message": uc.ErrVMNotFound.Message})
	case errors.Is(err, uc.ErrVMNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case !errors.As(err, &de):
		return err
	}
	status := http.StatusConflict
	if de.Code == domain.CodeForbidden || de.Code == domain.CodeConsoleNeedsGrant {
		status = http.StatusForbidden
	}
	if fetch {
		return c.JSON(status, map[string]string{"code": de.Code, "message": de.Message})
	}
	if de.Code == domain.CodeForbidden {
		return echo.NewHTTPError(http.StatusForbidden, de.Message)
	}
	page.Flash(c, "error", de.Message)
	return page.Redirect(c, "/vms/"+id.String()+"/console")
}

// socket upgrades to the websocket and hands the session to the hub. The Origin must
// be Shepherd's own (checked before the upgrade: 403). Every other refusal happens
// after the upgrade, as a close code the page turns into words: browsers do not show
// a failed handshake's status to scripts.
func (h *Handler) socket(c echo.Context) error {
	id, err := vmID(c)
	if err != nil {
		return err
	}
	// Strangers are refused before the upgrade: a VM they cannot see is not found, and
	// without the console right there is nothing for the page to explain.
	st, err := h.Access.State(c.Request().Context(), viewer(c), id)
	if errors.Is(err, uc.ErrVMNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	if st.ProblemCode == domain.CodeForbidden {
		return echo.NewHTTPError(http.StatusForbidden, st.Problem)
	}
	token := ""
	if ck, err := c.Cookie(ticketCookie); err == nil {
		token = ck.Value
	}
	// The ticket is single-use: drop the cookie with the handshake's answer.
	clear := http.Header{}
	clear.Add("Set-Cookie", (&http.Cookie{
		Name:     ticketCookie,
		Value:    "",
		Path:     "/vms/" + id.String() + "/console/ws",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   h.Kit.Config.SecureCookies(),
		SameSite: http.SameSiteStrictMode,
	}).String())
	ws, err := h.Upgrader.Upgrade(c.Response(), c.Request(), clear)
	if err != nil {
		// The upgrader has answered (403 for a foreign Origin, 400 for a bad handshake).
		h.Kit.Logger.Warn("console websocket refused", "path", c.Request().URL.Path, "ip", page.ClientIP(c),
			"origin", c.Request().Header.Get("Origin"), "err", err)
		return nil
	}
	s, err := h.Access.Open(c.Request().Context(), viewer(c), id, token, page.ClientIP(c))
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) && !errors.Is(err, uc.ErrVMNotFound) {
			h.Kit.Logger.Error("console session could not be opened", "vm", id, "err", err)
		}
		h.Hub.Refuse(ws, err)
		return nil
	}
	h.Hub.Serve(ws, s)
	return nil
}
