package admin

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const consolesPath = "/admin/consoles"

// consoles lists the open console sessions and the prod grants still running.
func (h *Handler) consoles(c echo.Context) error {
	ctx := c.Request().Context()
	sessions, err := h.Consoles.LiveSessions(ctx)
	if err != nil {
		return err
	}
	grants, err := h.Consoles.ActiveGrants(ctx)
	if err != nil {
		return err
	}
	names, err := h.consoleNames(ctx, grants)
	if err != nil {
		return err
	}
	var m adminview.Consoles
	for _, s := range sessions {
		m.Sessions = append(m.Sessions, adminview.ConsoleSessionRow{
			ID:          s.ID.String(),
			User:        s.UserName,
			VMName:      s.VMName,
			VMURL:       "/vms/" + s.VMID.String(),
			Environment: string(s.Environment),
			Since:       views.Ago(s.OpenedAt),
			SinceTitle:  views.Timestamp(s.OpenedAt),
			Ends:        clock(s.EndsAt),
			ClientIP:    s.ClientIP,
			Replica:     s.Replica,
			Ending:      s.RevokedAt != nil,
		})
	}
	for _, g := range grants {
		row := adminview.ConsoleGrantRow{
			ID:           g.ID.String(),
			User:         names.users[g.UserID],
			VMName:       g.VMID.String(),
			VMURL:        "/vms/" + g.VMID.String(),
			GrantedBy:    g.GrantedBy,
			Expires:      clock(g.ExpiresAt),
			ExpiresTitle: "in " + until(g.ExpiresAt),
			RequestURL:   "/requests/" + g.TicketID.String(),
		}
		if v := names.vms[g.VMID]; v != nil {
			row.VMName, row.Environment = v.Name, string(v.Environment)
		}
		m.Grants = append(m.Grants, row)
	}
	return page.OK(c, adminview.ConsolesPage(h.Kit.Layout(c, "Consoles", "admin"), h.nav(c, "consoles"), m))
}

// endSession ends a live console session; the replica holding its socket closes it
// within a second.
func (h *Handler) endSession(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = h.Consoles.RevokeSession(c.Request().Context(), consoleViewer(c), id)
	return actionDone(c, err, "The session was ended; its console closes within a second.", consolesPath)
}

// revokeGrant ends a prod grant before its time, with the sessions opened under it.
func (h *Handler) revokeGrant(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" || len(reason) > 500 {
		// The holder and the audit trail read the reason, so it is not optional.
		page.Flash(c, "error", "Say why the access is revoked (at most 500 characters); nothing was changed.")
		return page.Redirect(c, consolesPath)
	}
	err = h.Consoles.RevokeGrant(c.Request().Context(), consoleViewer(c), id, reason)
	return actionDone(c, err, "Console access revoked; sessions opened under it are being closed.", consolesPath)
}

func consoleViewer(c echo.Context) console.Viewer {
	u := page.User(c)
	return console.Viewer{UserID: u.ID, Username: u.Username, Principal: page.Principal(c)}
}

type consoleNames struct {
	users map[uuid.UUID]string
	vms   map[uuid.UUID]*ent.VM
}

// consoleNames loads the people and VMs the grants name (grants keep ids only).
func (h *Handler) consoleNames(ctx context.Context, grants []*ent.ConsoleGrant) (consoleNames, error) {
	out := consoleNames{users: map[uuid.UUID]string{}, vms: map[uuid.UUID]*ent.VM{}}
	if len(grants) == 0 {
		return out, nil
	}
	var userIDs, vmIDs []uuid.UUID
	for _, g := range grants {
		userIDs, vmIDs = append(userIDs, g.UserID), append(vmIDs, g.VMID)
	}
	client := h.Kit.Store.Ent
	users, err := client.User.Query().Where(user.IDIn(userIDs...)).All(ctx)
	if err != nil {
		return out, err
	}
	for _, u := range users {
		out.users[u.ID] = u.Username
	}
	vms, err := client.VM.Query().Where(vm.IDIn(vmIDs...)).All(ctx)
	if err != nil {
		return out, err
	}
	for _, v := range vms {
		out.vms[v.ID] = v
	}
	return out, nil
}

// clock is a time of day as grants and sessions are spoken of: "14:05 UTC".
func clock(t time.Time) string { return t.UTC().Format("15:04 MST") }

// until is how long is left, in minutes ("25 minutes").
func until(t time.Time) string {
	d := time.Until(t).Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	if d == time.Minute {
		return "1 minute"
	}
	return views.Itoa(int(d.Minutes())) + " minutes"
}
