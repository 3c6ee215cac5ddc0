package views

// Login is the sign-in page.
type Login struct {
	LocalEnabled bool
	OIDCEnabled  bool
	OIDCName     string
	OIDCStartURL string
	FormAction   string
	Username     string
	Error        string
	Notice       string
	FirstRunHint bool
	DevMode      bool
	// DevIssuer: the sign-in button opens the built-in development issuer (demo users).
	DevIssuer bool
	// Providers are the identity providers added in the portal, each with its own button.
	Providers []LoginProvider
}

// LoginProvider is a sign-in button of an identity provider added in the portal.
type LoginProvider struct {
	Key      string
	Label    string
	StartURL string
}

// AnySSO reports whether any identity provider is offered.
func (m Login) AnySSO() bool { return m.OIDCEnabled || len(m.Providers) > 0 }

// Password is the change-password form.
type Password struct {
	Forced    bool
	External  bool // IdP accounts have no local password
	Problems  []string
	MinLength int
}

// DevPicker is the development issuer's "choose a demo user" page.
type DevPicker struct {
	Users    []DevUser
	Action   string
	Hidden   map[string]string
	ClientID string
	Error    string
}

// DevUser is one demo person in the picker.
type DevUser struct {
	Sub, Username, Name, Email, Description string
	Groups                                  []string
	Initials                                string
}
