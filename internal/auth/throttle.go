package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/loginthrottle"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/textutil"
)

// Sign-in throttling: failed password checks are counted per account and per client
// address in PostgreSQL (table login_throttles), so every replica sees the same counters.
// A key that failed too often is blocked for a while; attempts during the block are
// refused before any password is hashed, even with the right password. The wait doubles
// with each further failure and is capped, and counters are forgotten after a quiet hour,
// so nobody is ever locked out for good.

// ThrottleLimit is the allowance of one kind of key.
type ThrottleLimit struct {
	// Free is how many attempts in a row may fail without any wait (at least 1).
	Free int
	// First is the wait after the Free-th failure; each further failure doubles it...
	First time.Duration
	// ... up to Max.
	Max time.Duration
}

// WaitAfter is how long a key must wait after its n-th failure in a row.
func (l ThrottleLimit) WaitAfter(n int) time.Duration {
	if l.First <= 0 || n < l.Free {
		return 0
	}
	shift := n - l.Free
	if shift > 40 {
		return l.Max
	}
	w := l.First << shift
	if w <= 0 || w > l.Max {
		return l.Max
	}
	return w
}

// waits lists WaitAfter(1), WaitAfter(2), ... in milliseconds up to the first capped
// value; the upsert reads its entry for the new failure count (the last one beyond).
func (l ThrottleLimit) waits() []int64 {
	var out []int64
	for n := 1; ; n++ {
		w := l.WaitAfter(n)
		out = append(out, w.Milliseconds())
		if n >= l.Free && (w == 0 || w >= l.Max) {
			return out
		}
	}
}

// ThrottlePolicy is the whole policy: the numbers live in DefaultThrottlePolicy.
type ThrottlePolicy struct {
	Account ThrottleLimit // per account name, whether or not the account exists
	Address ThrottleLimit // per client address (IPv6: per /64)
	// Forget: failures are forgotten this long after the last one. Longer than both Max
	// waits, so a block always ends before its counter is dropped.
	Forget time.Duration
}

// DefaultThrottlePolicy: per account, 5 failed attempts are free, then waits of 2 s, 4 s,
// 8 s … up to 15 minutes; per address (one office behind a NAT shares it) 20 free, same
// waits. Counters are forgotten an hour after the last failure; a successful sign-in
// clears the account's counter (not the address's).
var DefaultThrottlePolicy = ThrottlePolicy{
	Account: ThrottleLimit{Free: 5, First: 2 * time.Second, Max: 15 * time.Minute},
	Address: ThrottleLimit{Free: 20, First: 2 * time.Second, Max: 15 * time.Minute},
	Forget:  time.Hour,
}

// Throttle scopes, as audited and shown to admins.
const (
	ScopeAccount = "account"
	ScopeAddress = "address"
)

const (
	accountPrefix = "user:"
	addressPrefix = "ip:"
	maxKeySubject = 255
)

// AccountKey is the counter of a username: case-insensitive, the same for accounts that
// do not exist, so the throttle reveals nothing about which do.
func AccountKey(username string) string {
	return accountPrefix + textutil.Truncate(strings.ToLower(strings.TrimSpace(username)), maxKeySubject)
}

// AddressKey is the counter of a client address. An IPv6 client usually holds a whole
// /64, so that is what is counted.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return addressPrefix + textutil.Truncate(ip, maxKeySubject)
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return addressPrefix + p.String()
	}
	return addressPrefix + a.String()
}

// KeyScope tells an account key from an address key, and returns what it names.
func KeyScope(key string) (scope, subject string) {
	if s, ok := strings.CutPrefix(key, addressPrefix); ok {
		return ScopeAddress, s
	}
	return ScopeAccount, strings.TrimPrefix(key, accountPrefix)
}

// Attempt is one try to prove a password: who it claims to be and where it comes from.
type Attempt struct {
	Method   string // local, oidc, password_change
	Username string // "" when the attempt names nobody (an OIDC callback)
	Address  string // client IP; "" when only the account counts
}

type throttleKey struct {
	key, scope string
	limit      ThrottleLimit
}

func (t *Throttle) keys(a Attempt) []throttleKey {
	p := t.policy()
	var out []throttleKey
	if strings.TrimSpace(a.Username) != "" {
		out = append(out, throttleKey{AccountKey(a.Username), ScopeAccount, p.Account})
	}
	if a.Address != "" {
		out = append(out, throttleKey{AddressKey(a.Address), ScopeAddress, p.Address})
	}
	return out
}

// ThrottledError refuses an attempt until the wait is over. Its Message is what the
// person reads. When the failure that started the block is reported this way, it also
// wraps ErrInvalidCredentials.
type ThrottledError struct {
	Scope string
	Wait  time.Duration
	cause error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("RATE_LIMIT_EXCEEDED: too many failed sign-ins (%s), retry in %s", e.Scope, e.Wait.Round(time.Second))
}

func (e *ThrottledError) Unwrap() error { return e.cause }

// Message is the sentence for the sign-in page.
func (e *ThrottledError) Message() string {
	return "Too many failed sign-ins. Try again in " + HumanWait(e.Wait) + "."
}

// RetryAfter is the Retry-After header's value: whole seconds, rounded up.
func (e *ThrottledError) RetryAfter() int { return ceilDiv(e.Wait, time.Second) }

// HumanWait says a wait the way people do, rounded up: "1 second", "40 seconds",
// "2 minutes", "1 hour".
func HumanWait(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	s := max(ceilDiv(d, time.Second), 1)
	if s < 60 {
		return plural(s, "second")
	}
	if m := ceilDiv(d, time.Minute); m < 60 {
		return plural(m, "minute")
	}
	return plural(ceilDiv(d, time.Hour), "hour")
}

func ceilDiv(d, unit time.Duration) int { return int((d + unit - 1) / unit) }

// Throttle counts failed sign-ins and refuses attempts of blocked keys.
type Throttle struct {
	Store *db.Store
	// Policy: the zero value means DefaultThrottlePolicy.
	Policy ThrottlePolicy
	Now    func() time.Time
	Logger *slog.Logger
}

func (t *Throttle) policy() ThrottlePolicy {
	if t.Policy == (ThrottlePolicy{}) {
		return DefaultThrottlePolicy
	}
	return t.Policy
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Throttle) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// Check refuses the attempt with a *ThrottledError (the longest wait of its keys) while
// any of them is blocked. Call it before checking the password. The first refusal of
// each block is audited; further ones are not, so hammering cannot flood the log.
func (t *Throttle) Check(ctx context.Context, a Attempt) error {
	keys := t.keys(a)
	if len(keys) == 0 {
		return nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.key
	}
	now := t.now()
	rows, err := t.Store.Ent.LoginThrottle.Query().
		Where(loginthrottle.IDIn(ids...), loginthrottle.BlockedUntilGT(now)).All(ctx)
	if err != nil || len(rows) == 0 {
		return err
	}
	var refused *ThrottledError
	for _, r := range rows {
		scope, _ := KeyScope(r.ID)
		wait := r.BlockedUntil.Sub(now)
		if refused == nil || wait > refused.Wait {
			refused = &ThrottledError{Scope: scope, Wait: wait}
		}
		t.auditRefusal(ctx, a, r, now)
	}
	t.logger().Info("sign-in refused: throttled", "method", a.Method, "username", a.Username, "address", a.Address,
		"scope", refused.Scope, "wait", refused.Wait.Round(time.Second))
	return refused
}

// auditRefusal writes one row for the first refused attempt of a block: the update claims
// the block atomically, so concurrent refusals on several replicas write it once.
func (t *Throttle) auditRefusal(ctx context.Context, a Attempt, r *ent.LoginThrottle, now time.Time) {
	res, err := t.Store.SQL.ExecContext(ctx, `UPDATE login_throttles SET refusal_audited_until = blocked_until
		WHERE "key" = $1 AND blocked_until > $2 AND refusal_audited_until IS DISTINCT FROM blocked_until`, r.ID, now)
	if err != nil {
		t.logger().Error("throttle refusal not recorded", "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 1 {
		t.audit(ctx, a, r.ID, "refused", r.Failures, *r.BlockedUntil, now)
	}
}

// Fail counts a failed attempt against each of its keys with one atomic upsert per key
// (concurrent failures on any replica all count). When that blocks a key it is audited
// and returned as a *ThrottledError wrapping ErrInvalidCredentials.
func (t *Throttle) Fail(ctx context.Context, a Attempt) (*ThrottledError, error) {
	p := t.policy()
	now := t.now()
	var blocked *ThrottledError
	for _, k := range t.keys(a) {
		var failures int
		var until *time.Time
		err := t.Store.SQL.QueryRowContext(ctx, failSQL, k.key, now, now.Add(-p.Forget), k.limit.waits()).Scan(&failures, &until)
		if err != nil {
			return nil, fmt.Errorf("count failed sign-in: %w", err)
		}
		if until == nil || !until.After(now) {
			continue
		}
		wait := until.Sub(now)
		t.audit(ctx, a, k.key, "blocked", failures, *until, now)
		t.logger().Warn("sign-in key blocked", "key", k.key, "method", a.Method, "failures", failures, "wait", wait.Round(time.Second))
		if blocked == nil || wait > blocked.Wait {
			blocked = &ThrottledError{Scope: k.scope, Wait: wait, cause: ErrInvalidCredentials}
		}
	}
	t.prune(ctx, now)
	return blocked, nil
}

// failSQL counts one failure of key $1 at $2: a counter whose last failure is older than
// $3 starts again at 1. The wait for the new count n is $4[n] milliseconds (the last
// entry beyond the array's end); a block never shortens one already running.
const failSQL = `
INSERT INTO login_throttles AS t ("key", failures, first_failure_at, last_failure_at, blocked_until)
VALUES ($1, 1, $2::timestamptz, $2::timestamptz, CASE WHEN ($4::bigint[])[1] > 0 THEN $2::timestamptz + ($4::bigint[])[1] * interval '1 millisecond' END)
ON CONFLICT ("key") DO UPDATE SET
	failures = ` + nextCount + `,
	first_failure_at = CASE WHEN t.last_failure_at < $3::timestamptz THEN $2::timestamptz ELSE t.first_failure_at END,
	last_failure_at = GREATEST(t.last_failure_at, $2::timestamptz),
	blocked_until = GREATEST(
		CASE WHEN t.last_failure_at < $3::timestamptz THEN NULL ELSE t.blocked_until END,
		CASE WHEN ` + nextWait + ` > 0 THEN $2::timestamptz + ` + nextWait + ` * interval '1 millisecond' END)
RETURNING failures, blocked_until`

const (
	nextCount = `(CASE WHEN t.last_failure_at < $3::timestamptz THEN 1 ELSE t.failures + 1 END)`
	nextWait  = `($4::bigint[])[LEAST(` + nextCount + `, cardinality($4::bigint[]))]`
)

// Succeed clears the account's counter after its password was proven. The address
// keeps its count: one right password must not reset guessing at other accounts.
func (t *Throttle) Succeed(ctx context.Context, a Attempt) error {
	if strings.TrimSpace(a.Username) == "" {
		return nil
	}
	_, err := t.Store.Ent.LoginThrottle.Delete().Where(loginthrottle.ID(AccountKey(a.Username))).Exec(ctx)
	return err
}

// prune drops counters that are forgotten and not blocking; failures are rare enough
// that doing it here keeps the table small without a job.
func (t *Throttle) prune(ctx context.Context, now time.Time) {
	_, err := t.Store.Ent.LoginThrottle.Delete().Where(
		loginthrottle.LastFailureAtLT(now.Add(-t.policy().Forget)),
		loginthrottle.Or(loginthrottle.BlockedUntilIsNil(), loginthrottle.BlockedUntilLT(now))).Exec(ctx)
	if err != nil {
		t.logger().Warn("pruning old sign-in counters failed", "err", err)
	}
}

// audit records a block or a refused attempt; like LoginFailed it never fails the request.
func (t *Throttle) audit(ctx context.Context, a Attempt, key, event string, failures int, until, now time.Time) {
	scope, subject := KeyScope(key)
	err := audit.Write(ctx, t.Store.Ent, audit.Entry{Action: ActionLoginThrottled, ActorName: textutil.Truncate(a.Username, maxKeySubject),
		ResourceType: "login_throttle", ResourceID: key, ResourceName: subject,
		Details: map[string]any{"method": a.Method, "scope": scope, "event": event, "failures": failures,
			"wait_seconds": ceilDiv(until.Sub(now), time.Second), "blocked_until": until.UTC().Format(time.RFC3339)}})
	if err != nil {
		t.logger().Error("audit of sign-in throttle not written", "err", err)
	}
}

// Audit actions of the throttle.
const (
	ActionLoginThrottled = "user.login_throttled"
	ActionThrottleClear  = "login_throttle.clear"
)
