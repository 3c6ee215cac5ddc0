package adminview

import "kv-shepherd.io/shepherd/views"

// UserList is the users page: a search and one page of users.
type UserList struct {
	Query    string
	Rows     []UserRow
	Pager    views.Pager
	ReturnTo string
}

// UserRow is one user in the list.
type UserRow struct {
	ID, Username, Name, Email string
	SignIn                    string // "Local account" or "Identity provider"
	Roles                     string // "Approver, Operator" or "No roles"
	Disabled                  bool
	LastSignIn                string // "3 hours ago" or "Never"
	LastSignInTitle           string
}

// UserPage is one user's page.
type UserPage struct {
	ID, Username, Name, Email string
	SignIn                    string
	Local                     bool
	Disabled                  bool
	MustChangePassword        bool
	IsAdmin                   bool
	LastAdmin                 bool // the only enabled platform admin: cannot be disabled
	Self                      bool // the admin looking at their own page
	LastSignIn                string
	LastSignInTitle           string
	Created                   string
	Bindings                  []BindingRow
	Memberships               []MembershipRow
	Sessions                  []SessionRow
	Grant                     GrantForm
}

// BindingRow is one role binding of the user.
type BindingRow struct {
	ID, RoleID, Role  string
	Environments      string // "test and prod"
	Scope             string // "Everywhere" or the System's name
	Source            string // in words
	SourceKey         string // manual, idp_mapping, seed (for tests and styling)
	Revocable         bool
	NotRevocableWhy   string
	Granted, GrantedT string
}

// MembershipRow is one System the user belongs to.
type MembershipRow struct {
	SystemID, System, Role string
}

// SessionRow is one open browser session.
type SessionRow struct {
	Started, StartedTitle   string
	LastSeen, LastSeenTitle string
	Expires                 string
}

// GrantForm grants a role by hand on the user's page.
type GrantForm struct {
	Roles      []views.Option
	Test, Prod bool
	Errors     Errors
	Message    string
}

// NewUserForm creates a local account.
type NewUserForm struct {
	Username, Name, Email string
	Errors                Errors
	Message               string
}

// OneTimePassword is shown once, after creating a local account or resetting its
// password.
type OneTimePassword struct {
	UserID, Username string
	Password         string
	Created          bool // a new account (else a reset)
	SessionsEnded    bool
}

// RoleList is the roles page.
type RoleList struct {
	Builtin, Custom []RoleRow
}

// RoleRow is one role with its permissions in words.
type RoleRow struct {
	ID, Name, Description string
	Builtin               bool
	Holders               int
	Permissions           []PermissionText
}

// PermissionText is a permission in words, with its code for those who need it.
type PermissionText struct {
	ID, Text string
}

// RoleForm creates or edits a custom role.
type RoleForm struct {
	ID, Name, Description string
	Holders               int
	Groups                []PermissionGroup
	Errors                Errors
	Message               string
}

// PermissionGroup is the permissions on one resource (Systems, VMs, ...).
type PermissionGroup struct {
	Resource string
	Items    []PermissionChoice
}

// PermissionChoice is one checkbox of the role form.
type PermissionChoice struct {
	ID, Text string
	Checked  bool
}
