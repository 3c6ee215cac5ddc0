// Package idpview renders the Identity providers pages: the providers, their discovery
// test and each provider's group → role mapping grid.
package idpview

// Row is a provider in the list.
type Row struct {
	Key, Label, Issuer string
	Href               string
	Status             string // in words
	StatusClass        string
	Sign               string // "Offered on the sign-in page", "Disabled", "From settings"
	Users              int
	LastSignIn         string
}

// List is the providers page.
type List struct {
	CSRF        string
	CallbackURL string
	Rows        []Row
}

// Form is the add/edit provider form. The client secret is never sent back.
type Form struct {
	Create       bool
	Key          string
	Label        string
	Issuer       string
	ClientID     string
	Scopes       string
	GroupsClaim  string
	Version      int
	HasSecret    bool
	Errors       map[string]string
	Message      string
	Discovery    *Discovery
	CallbackURL  string
	SecretRetype bool // the no-script discovery test came back: the secret must be entered again
}

// Discovery is a "Test discovery" outcome.
type Discovery struct {
	OK            bool
	Problem       string
	Issuer        string
	Authorization string
	Token         string
	UserInfo      string
	EndSession    string
	JWKS          string
	Keys          []string
	Skipped       int
}

// Option is a role to map to.
type Option struct {
	Value, Label string
}

// MappingRow is a grid row.
type MappingRow struct {
	ID      string
	Group   string
	RoleID  string
	Role    string // "" when the role no longer exists
	Test    bool
	Prod    bool
	Version int
	// SystemID and MemberRole: the optional System membership ("" when none);
	// System is "" when that System was deleted (the row is broken).
	SystemID   string
	System     string
	MemberRole string
}

// Seen is a group seen at a recent sign-in.
type Seen struct {
	Name     string
	LastSeen string
	Mapped   bool
}

// MappingForm is the "Map a group" form.
type MappingForm struct {
	Group  string
	RoleID string
	Test   bool
	Prod   bool
	// SystemID and MemberRole: the optional System membership.
	SystemID   string
	MemberRole string
	Errors     map[string]string
}

// Detail is one provider's page.
type Detail struct {
	CSRF       string
	Key        string
	Label      string
	FromConfig bool
	Enabled    bool
	Issuer     string
	ClientID   string
	Scopes     string
	Claim      string
	Status     string
	StatusNote string
	LastSignIn string
	Users      int
	Edit       Form
	Mappings   []MappingRow
	Roles      []Option
	Systems    []Option
	Seen       []Seen
	NewMapping MappingForm
	// Problem is a refusal shown at the top (for example another admin's change).
	Problem   string
	Problems  []string
	Discovery *Discovery
}
