package adminview

// RateLimits is the rate-limits page: the limits in force, this minute's counts, the
// users with limits of their own, and the form that sets them.
type RateLimits struct {
	Policy []LimitLine
	// This minute.
	WindowEnds    string // "14:06 UTC"
	GlobalChanges int
	TopUsers      []LimitUsage
	Users         []UserLimitRow
	Form          UserLimitForm
}

// LimitLine is one limit in force: what, the number in words, and what it counts now.
type LimitLine struct {
	What, Value, Now string
}

// LimitUsage is one user's changes in the current minute.
type LimitUsage struct {
	User    string // display name or username
	Changes int
	Of      string // "of 120"
}

// UserLimitRow is one user with an exemption or limits of their own.
type UserLimitRow struct {
	ID, Username, Name string
	Exempt             string   // "Exempt until 31 Dec 18:00 UTC", "Exemption ended …", ""
	Limits             []string // "10 changes a minute", …
	Reason, By, When   string
}

// UserLimitForm sets a user's limits (empty numbers: the default).
type UserLimitForm struct {
	User, ExemptUntil                                                         string
	Exempt                                                                    bool
	ChangesPerMinute, PendingBatches, PendingBatchItems, BatchCooldownSeconds string
	Reason                                                                    string
	// Defaults shown as placeholders.
	DefaultChanges, DefaultBatches, DefaultItems, DefaultCooldown string
	Errors                                                        Errors
	Message                                                       string
}
