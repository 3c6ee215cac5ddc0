// Package views holds Shepherd's templ components. Components take view models (plain
// structs defined here), never database clients.
package views

import (
	"context"
	"encoding/json"
)

// Layout is what every full page needs: who is signed in, what they may navigate to,
// the CSRF token for htmx and forms, and pending flash messages.
type Layout struct {
	Title   string
	Active  string
	User    *User
	Nav     []NavItem
	CSRF    string
	Flashes []Flash
	DevMode bool
	BareNav bool // sign-in and forced-password pages show no navigation
	Unread  int  // unread notifications, drawn on the bell in the header
}

// User is the signed-in person as the header shows them.
type User struct {
	Username    string
	DisplayName string
	Initials    string
	Forced      bool
}

// NavItem is one entry of the main navigation (only items the user may use are built).
type NavItem struct {
	Key, Label, Href string
	External         bool // opens a different app (the job UI)
}

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind    string // success, info, warning, error
	Message string
}

func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func flashClass(kind string) string {
	switch kind {
	case "success", "warning", "error":
		return "flash flash-" + kind
	}
	return "flash flash-info"
}

func navClass(item NavItem, active string) string {
	if item.Key == active {
		return "active"
	}
	return ""
}

func ariaCurrent(item NavItem, active string) string {
	if item.Key == active {
		return "page"
	}
	return "false"
}

func pageTitle(ctx context.Context, t string) string {
	if t == "" {
		t = "Shepherd"
	} else {
		t += " · Shepherd"
	}
	if failed, _ := ctx.Value(failedKey{}).(bool); failed {
		return "Error: " + t
	}
	return t
}

type failedKey struct{}

// Failed marks a page rendered for a refused request (a form with errors, a denied page):
// its title starts with "Error:", the first thing a screen reader announces.
func Failed(ctx context.Context) context.Context { return context.WithValue(ctx, failedKey{}, true) }
