package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/ratelimit"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const rateLimitsPath = page.RateLimitsPath

// rateLimits shows the limits in force, this minute's counts and the users' own limits;
// ?user= fills the form with that user's current exception.
func (h *Handler) rateLimits(c echo.Context) error {
	f := adminview.UserLimitForm{User: c.QueryParam("user")}
	if f.User != "" {
		users, err := h.Limits.UserLimits(c.Request().Context())
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Username == f.User {
				f = formOf(u)
			}
		}
	}
	return h.rateLimitsPage(c, http.StatusOK, f)
}

func (h *Handler) rateLimitsPage(c echo.Context, status int, f adminview.UserLimitForm) error {
	ctx := c.Request().Context()
	usage, err := h.Limits.Usage(ctx)
	if err != nil {
		return err
	}
	users, err := h.Limits.UserLimits(ctx)
	if err != nil {
		return err
	}
	d := h.Limits.Limits
	f.DefaultChanges, f.DefaultBatches = limitDefault(d.UserPerMinute), limitDefault(d.UserPendingBatches)
	f.DefaultItems, f.DefaultCooldown = limitDefault(d.UserPendingBatchItems), limitDefault(int(d.BatchCooldown/time.Second))
	m := adminview.RateLimits{
		WindowEnds:    usage.Window.Add(time.Minute).Format("15:04 UTC"),
		GlobalChanges: usage.GlobalChanges,
		Form:          f,
		Policy: []adminview.LimitLine{
			{What: "Changes a minute, everyone together", Value: perMinute(d.GlobalPerMinute), Now: fmt.Sprintf("%d this minute", usage.GlobalChanges)},
			{What: "Changes a minute, each user", Value: perMinute(d.UserPerMinute), Now: "see This minute"},
			{What: "Batch requests waiting or running, platform-wide", Value: count(d.PendingBatches, "batch request"), Now: fmt.Sprintf("%d now", usage.PendingBatches)},
			{What: "Batch requests waiting or running, each user", Value: count(d.UserPendingBatches, "batch request"), Now: "—"},
			{What: "VMs in one user's waiting or running batches", Value: count(d.UserPendingBatchItems, "VM"), Now: "—"},
			{What: "Time between two batch requests of one user", Value: wait(d.BatchCooldown), Now: "—"},
		},
	}
	for _, u := range usage.TopUsers {
		m.TopUsers = append(m.TopUsers, adminview.LimitUsage{User: nameOr(u.DisplayName, u.Username), Changes: u.Changes,
			Of: ofLimit(d.UserPerMinute, users, u.Username)})
	}
	for _, u := range users {
		m.Users = append(m.Users, userLimitRow(u))
	}
	return page.Render(c, status, adminview.RateLimitsPage(h.Kit.Layout(c, "Rate limits", "admin"), h.nav(c, "ratelimits"), m))
}

// setUserLimits saves a user's exemption or own limits; the use case audits it.
func (h *Handler) setUserLimits(c echo.Context) error {
	in := ratelimit.UserLimitInput{
		User:                 c.FormValue("user"),
		Exempt:               c.FormValue("exempt") == "true",
		ExemptUntil:          c.FormValue("exempt_until"),
		ChangesPerMinute:     c.FormValue("changes_per_minute"),
		PendingBatches:       c.FormValue("pending_batches"),
		PendingBatchItems:    c.FormValue("pending_batch_items"),
		BatchCooldownSeconds: c.FormValue("batch_cooldown_seconds"),
		Reason:               c.FormValue("reason"),
	}
	u := page.User(c)
	saved, err := h.Limits.SetUserLimits(c.Request().Context(), ratelimit.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}, in)
	if err != nil {
		errs, msg, ok, fatal := formProblem(err)
		if !ok {
			return fatal
		}
		f := adminview.UserLimitForm{
			User:                 in.User,
			Exempt:               in.Exempt,
			ExemptUntil:          in.ExemptUntil,
			ChangesPerMinute:     in.ChangesPerMinute,
			PendingBatches:       in.PendingBatches,
			PendingBatchItems:    in.PendingBatchItems,
			BatchCooldownSeconds: in.BatchCooldownSeconds,
			Reason:               in.Reason,
			Errors:               errs,
			Message:              msg,
		}
		return h.rateLimitsPage(c, http.StatusUnprocessableEntity, f)
	}
	page.Flash(c, "success", "Saved the limits of "+saved.Username+".")
	return page.Redirect(c, rateLimitsPath)
}

// removeUserLimits gives a user the default limits again.
func (h *Handler) removeUserLimits(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u := page.User(c)
	name, err := h.Limits.RemoveUserLimits(c.Request().Context(), ratelimit.Actor{ID: u.ID, Name: u.Username, Principal: page.Principal(c)}, id)
	return actionDone(c, err, name+" has the default limits again.", rateLimitsPath)
}

func formOf(u ratelimit.UserLimit) adminview.UserLimitForm {
	f := adminview.UserLimitForm{User: u.Username, Exempt: u.Exempt && !u.ExemptExpired, Reason: u.Reason}
	if u.ExemptUntil != nil && !u.ExemptExpired {
		f.ExemptUntil = u.ExemptUntil.UTC().Format("2006-01-02T15:04")
	}
	str := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	f.ChangesPerMinute, f.PendingBatches = str(u.ChangesPerMinute), str(u.PendingBatches)
	f.PendingBatchItems, f.BatchCooldownSeconds = str(u.PendingBatchItems), str(u.BatchCooldownSeconds)
	return f
}

func userLimitRow(u ratelimit.UserLimit) adminview.UserLimitRow {
	r := adminview.UserLimitRow{ID: u.UserID.String(), Username: u.Username, Name: nameOr(u.DisplayName, u.Username),
		Reason: u.Reason, By: u.UpdatedByName, When: views.Ago(u.UpdatedAt)}
	switch {
	case u.ExemptExpired:
		r.Exempt = "Exemption ended " + u.ExemptUntil.UTC().Format("2 Jan 15:04 UTC")
	case u.Exempt && u.ExemptUntil != nil:
		r.Exempt = "Exempt until " + u.ExemptUntil.UTC().Format("2 Jan 15:04 UTC")
	case u.Exempt:
		r.Exempt = "Exempt from all limits"
	}
	if u.ChangesPerMinute != nil {
		r.Limits = append(r.Limits, perMinute(*u.ChangesPerMinute))
	}
	if u.PendingBatches != nil {
		r.Limits = append(r.Limits, count(*u.PendingBatches, "batch request")+" waiting or running")
	}
	if u.PendingBatchItems != nil {
		r.Limits = append(r.Limits, count(*u.PendingBatchItems, "VM")+" in batches")
	}
	if u.BatchCooldownSeconds != nil {
		r.Limits = append(r.Limits, wait(time.Duration(*u.BatchCooldownSeconds)*time.Second)+" between batch requests")
	}
	return r
}

func nameOr(name, username string) string {
	if name != "" {
		return name
	}
	return username
}

func perMinute(n int) string {
	if n == 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d changes a minute", n)
}

func count(n int, what string) string {
	switch n {
	case 0:
		return "no limit"
	case 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func wait(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return ratelimit.HumanWait(d)
}

func limitDefault(n int) string {
	if n == 0 {
		return "no limit"
	}
	return strconv.Itoa(n)
}

// ofLimit is "of 120" after a user's count: their own limit when they have one.
func ofLimit(def int, users []ratelimit.UserLimit, username string) string {
	for _, u := range users {
		if u.Username != username {
			continue
		}
		if u.Exempt && !u.ExemptExpired {
			return "exempt"
		}
		if u.ChangesPerMinute != nil {
			def = *u.ChangesPerMinute
		}
	}
	if def == 0 {
		return "no limit"
	}
	return "of " + strconv.Itoa(def)
}
