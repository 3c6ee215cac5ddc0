package adminview

// SignInThrottle is the sign-in throttle page: keys that are blocked or still counting
// failed sign-ins, and the policy in words.
type SignInThrottle struct {
	Rows      []ThrottleRow
	Policy    []string // one sentence per rule
	Truncated bool     // more keys exist than are listed
}

// ThrottleRow is one account or client address.
type ThrottleRow struct {
	Key                           string // what the clear form sends
	Scope                         string // "Account" or "Address"
	Subject                       string // the username or address
	Failures                      int
	LastFailure, LastFailureTitle string // "5 minutes ago", the exact time
	Blocked                       bool
	BlockedUntil                  string // "14:05:30 UTC"
	BlockedFor                    string // "2 minutes"
}
