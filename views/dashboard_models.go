package views

import "time"

// Dashboard is the landing page after sign-in.
type Dashboard struct {
	FirstName    string
	Roles        []RoleBadge
	Systems      []SystemSummary
	Capabilities []Capability
	IsAdmin      bool
	JobsURL      string
	// CanRequest offers "Request a VM"; Approver shows what waits for the user's decision.
	CanRequest bool
	Approver   *Waiting
	// VMs are the newest VMs the user may see (nil: no vm:read), VMTotal all of them;
	// Notes the latest notifications, unread first.
	VMs     []DashboardVM
	VMTotal int
	// VMsCapped: more than VMTotal (the list stops counting).
	VMsCapped bool
	CanSee    bool
	Notes     []DashboardNote
	Unread    int
}

// DashboardVM is one VM on the dashboard.
type DashboardVM struct {
	Name, URL, Status, Environment string
	System, SystemURL              string
}

// DashboardNote is one recent notification.
type DashboardNote struct {
	Title, Link string
	At          time.Time
	Read        bool
}

// Waiting is what waits for an approver: how many requests, and the oldest.
type Waiting struct {
	Count                            int
	OldestAge, OldestURL, OldestWhat string
}

// RoleBadge is one global role with the environments it applies to.
type RoleBadge struct {
	Role         string
	Environments []string
	Source       string
}

// SystemSummary is a System the user belongs to.
type SystemSummary struct {
	Name        string
	URL         string
	Role        string
	Description string // sanitized HTML excerpt is a later concern; plain text here
}

// Capability is a sentence about what the user can do, with environments.
type Capability struct {
	Title        string
	Detail       string
	Environments []string
}

// Permissions is the "My permissions" page.
type Permissions struct {
	Username    string
	IsAdmin     bool
	Bindings    []BindingRow
	Memberships []MembershipRow
	Effective   []PermissionRow
}

// BindingRow is one role binding.
type BindingRow struct {
	Role, Scope, Source string
	Environments        []string
}

// MembershipRow is one System membership.
type MembershipRow struct{ System, SystemURL, Role, Grants string }

// PermissionRow is one effective permission.
type PermissionRow struct {
	ID, Description string
	Environments    []string
}

// ErrorInfo describes an error page or fragment.
type ErrorInfo struct {
	Status    int
	Title     string
	Message   string
	RequestID string
	ShowHome  bool
}

func allVMs(total int, capped bool) string {
	switch {
	case total <= 0:
		return "The VM list →"
	case capped:
		return "All VMs (more than " + Itoa(total) + ") →"
	}
	return "All VMs (" + Itoa(total) + ") →"
}

func allNotes(unread int) string {
	if unread == 0 {
		return "All notifications →"
	}
	return "All notifications (" + Itoa(unread) + " unread) →"
}
