package admin

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

const throttlePath = "/admin/sign-in-throttle"

// throttle is the sign-in throttle the admin pages read and clear.
func (h *Handler) throttle() *auth.Throttle {
	if h.Throttle != nil {
		return h.Throttle
	}
	return &auth.Throttle{Store: h.Kit.Store, Logger: h.Kit.Logger}
}

// signInThrottle lists the accounts and addresses that are blocked or counting failures.
func (h *Handler) signInThrottle(c echo.Context) error {
	t := h.throttle()
	entries, err := t.List(c.Request().Context())
	if err != nil {
		return err
	}
	now := time.Now()
	m := adminview.SignInThrottle{Policy: policyText(auth.DefaultThrottlePolicy), Truncated: len(entries) >= auth.ListLimit}
	if t.Policy != (auth.ThrottlePolicy{}) {
		m.Policy = policyText(t.Policy)
	}
	for _, e := range entries {
		row := adminview.ThrottleRow{Key: e.Key, Scope: "Account", Subject: e.Subject, Failures: e.Failures,
			LastFailure: views.Ago(e.LastFailureAt), LastFailureTitle: views.Timestamp(e.LastFailureAt)}
		if e.Scope == auth.ScopeAddress {
			row.Scope = "Address"
		}
		if e.BlockedUntil != nil {
			row.Blocked = true
			row.BlockedUntil = e.BlockedUntil.UTC().Format("15:04:05 MST")
			row.BlockedFor = auth.HumanWait(e.BlockedUntil.Sub(now))
		}
		m.Rows = append(m.Rows, row)
	}
	return page.OK(c, adminview.SignInThrottlePage(h.Kit.Layout(c, "Sign-in throttle", "admin"), h.nav(c, "throttle"), m))
}

// clearThrottle forgets one key's failures; the use case audits it.
func (h *Handler) clearThrottle(c echo.Context) error {
	key := c.FormValue("key")
	u := page.User(c)
	err := h.throttle().Clear(c.Request().Context(), auth.ThrottleActor{ID: u.ID, Name: u.Username,
		PlatformAdmin: page.Principal(c).IsPlatformAdmin()}, key)
	scope, subject := auth.KeyScope(key)
	what := "account " + subject
	if scope == auth.ScopeAddress {
		what = "address " + subject
	}
	return actionDone(c, err, fmt.Sprintf("Cleared the failed sign-ins of %s; it can sign in again now.", what), throttlePath)
}

// policyText says the policy in sentences, from the numbers the throttle uses.
func policyText(p auth.ThrottlePolicy) []string {
	limit := func(who string, l auth.ThrottleLimit) string {
		return fmt.Sprintf("%s: %d failed sign-ins are free; then each further attempt waits %s, doubling with every failure up to %s.",
			who, l.Free, auth.HumanWait(l.First), auth.HumanWait(l.Max))
	}
	return []string{
		limit("Per account (whether or not it exists)", p.Account),
		limit("Per client address (IPv6: per /64)", p.Address),
		fmt.Sprintf("Failures are forgotten %s after the last one. A successful sign-in clears the account's counter, not the address's.", auth.HumanWait(p.Forget)),
		"Blocked attempts are refused with “Too many failed sign-ins. Try again in …”, even with the right password, and audited as user.login_throttled.",
	}
}

// throttleCard counts blocked keys for the admin overview.
func (h *Handler) throttleCard(c echo.Context) (adminview.Card, error) {
	n, err := h.throttle().Counts(c.Request().Context())
	if err != nil {
		return adminview.Card{}, err
	}
	return adminview.Card{Key: "throttle", Title: "Sign-in throttle", Href: throttlePath, Count: n.Blocked,
		Detail:      fmt.Sprintf("blocked · %d counting failures", n.Counting),
		Description: "Accounts and client addresses slowed down after failed sign-ins; clear one to let it in at once."}, nil
}
