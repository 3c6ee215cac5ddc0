// Package ratelimit keeps the portal from being flooded (spec domain §10.5, flows §2.21):
// how many changes users may make per minute, platform-wide and each, and how many batch
// requests may wait or run. Everything is counted in PostgreSQL (no Redis), so every
// replica enforces the same numbers: a change is admitted by one upsert of two counters,
// and a batch by counting unfinished batches under a transaction-scoped lock, so two
// submissions racing for the last place cannot both get it.
//
// Platform admins may exempt a user (optionally until a time) or give a user limits of
// their own; both are audited.
package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Limits are the numbers in force; 0 turns a limit off.
type Limits struct {
	// GlobalPerMinute: changes per calendar minute of all signed-in users together.
	GlobalPerMinute int
	// UserPerMinute: changes per calendar minute of one user.
	UserPerMinute int
	// PendingBatches: batch requests waiting or running, platform-wide.
	PendingBatches int
	// UserPendingBatches: batch requests of one user waiting or running.
	UserPendingBatches int
	// UserPendingBatchItems: items (VMs) in one user's waiting or running batches.
	UserPendingBatchItems int
	// BatchCooldown: least time between two batch requests of one user.
	BatchCooldown time.Duration
}

// Spec are the spec's numbers: 1000 changes a minute platform-wide, 100 pending batches;
// per user 3 pending batches with 30 items and 2 minutes between batch requests. The
// per-user change rate is Shepherd's own (the spec names none).
var Spec = Limits{
	GlobalPerMinute:       1000,
	UserPerMinute:         120,
	PendingBatches:        100,
	UserPendingBatches:    3,
	UserPendingBatchItems: 30,
	BatchCooldown:         2 * time.Minute,
}

// Limiter admits changes and batches.
type Limiter struct {
	Store  *db.Store
	Limits Limits
	Now    func() time.Time
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Kinds of limit, as the error and the admin page name them.
const (
	KindChanges      = "changes_per_minute"
	KindBatches      = "pending_batches"
	KindBatchItems   = "pending_batch_items"
	KindBatchCooling = "batch_cooldown"
)

// Scopes of a limit (the spec's limit_type).
const (
	ScopeGlobal = "global"
	ScopeUser   = "user"
)

// ExceededError refuses a change or a batch. Its Message is what the person reads; its
// fields are the spec's RATE_LIMIT_EXCEEDED details.
type ExceededError struct {
	Kind       string
	Scope      string // global or user
	Current    int
	Max        int
	RetryAfter time.Duration // 0: when something finishes, not at a known time
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("%s: %s %s limit %d reached (%d)", domain.CodeRateLimitExceeded, e.Scope, e.Kind, e.Max, e.Current)
}

// RetryAfterSeconds is the Retry-After header's value (whole seconds, rounded up); 0
// when the wait depends on other requests finishing.
func (e *ExceededError) RetryAfterSeconds() int {
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// Message says what happened, how long to wait and whom to ask.
func (e *ExceededError) Message() string {
	wait := ""
	if e.RetryAfter > 0 {
		wait = " Try again in " + HumanWait(e.RetryAfter) + "."
	}
	ask := " If you need more, ask a platform administrator to raise your limit."
	switch {
	case e.Kind == KindChanges && e.Scope == ScopeGlobal:
		return fmt.Sprintf("Shepherd is receiving more changes than it accepts right now (%d a minute from everyone together).%s Nothing was changed.", e.Max, wait)
	case e.Kind == KindChanges:
		return fmt.Sprintf("You have made %d changes in this minute; the limit is %d a minute.%s Nothing was changed.%s", e.Current, e.Max, wait, ask)
	case e.Kind == KindBatches && e.Scope == ScopeGlobal:
		return fmt.Sprintf("%d batch requests are already waiting or running across the platform, the most Shepherd accepts. Try again when some have finished.", e.Current)
	case e.Kind == KindBatches:
		return fmt.Sprintf("You already have %d batch requests waiting or running; the limit is %d. Submit this one when one of them has finished.%s", e.Current, e.Max, ask)
	case e.Kind == KindBatchItems:
		return fmt.Sprintf("Your waiting or running batch requests already hold %d VMs; with this one they would exceed your limit of %d. Request fewer, or wait until some have finished.%s", e.Current, e.Max, ask)
	case e.Kind == KindBatchCooling:
		return fmt.Sprintf("You submitted a batch request moments ago; batch requests need %s between them.%s", HumanWait(time.Duration(e.Max)*time.Second), wait)
	}
	return "Too many requests." + wait
}

// DomainError is the refusal as the use cases report refusals (code RATE_LIMIT_EXCEEDED,
// the spec's details as Params), for forms that show it beside the fields.
func (e *ExceededError) DomainError(field string) *domain.Error {
	return &domain.Error{
		Code:    domain.CodeRateLimitExceeded,
		Field:   field,
		Message: e.Message() + " (" + domain.CodeRateLimitExceeded + ")",
		Params: map[string]any{
			"limit_type":    e.Scope,
			"limit":         e.Kind,
			"current_value": e.Current,
			"max_value":     e.Max,
			"retry_after":   e.RetryAfterSeconds(),
			"contact_admin": e.Scope == ScopeUser,
		},
	}
}

// AsExceeded finds an ExceededError in err.
func AsExceeded(err error) (*ExceededError, bool) {
	var e *ExceededError
	ok := errors.As(err, &e)
	return e, ok
}

// HumanWait says a wait rounded up: "1 second", "40 seconds", "2 minutes".
func HumanWait(d time.Duration) string {
	s := max(int((d+time.Second-1)/time.Second), 1)
	switch {
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	m := (s + 59) / 60
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// userLimits are one user's exception, read with the counters.
type userLimits struct {
	exempt                        bool
	perMinute, batches, items, cd sql.NullInt64
}

func pick(own sql.NullInt64, def int) int {
	if own.Valid {
		return int(own.Int64)
	}
	return def
}

// Window is the calendar minute a moment falls in.
func Window(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }

// admitChange counts one change of user in the current minute, platform-wide and for the
// user, in one statement, unless the user is exempt; it reports the new counts.
const admitChange = `
WITH o AS (
  SELECT exempt AND (exempt_until IS NULL OR exempt_until > $3) AS exempt, changes_per_minute
  FROM rate_limit_user_limits WHERE user_id = $1
), g AS (
  INSERT INTO rate_limit_counters AS r (key, window_start, current_value)
  SELECT 'global', $2, 1 WHERE $4 AND NOT COALESCE((SELECT exempt FROM o), false)
  ON CONFLICT (key) DO UPDATE SET
    current_value = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.current_value + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
  RETURNING current_value
), u AS (
  INSERT INTO rate_limit_counters AS r (key, window_start, current_value)
  SELECT 'user:' || $1::text, $2, 1 WHERE NOT COALESCE((SELECT exempt FROM o), false)
  ON CONFLICT (key) DO UPDATE SET
    current_value = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.current_value + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
  RETURNING current_value
)
SELECT COALESCE((SELECT exempt FROM o), false), (SELECT changes_per_minute FROM o),
       COALESCE((SELECT current_value FROM g), 0), COALESCE((SELECT current_value FROM u), 0)`

// AdmitChange counts one change (a form post) of a signed-in user and refuses it when
// the minute's platform-wide or per-user allowance is used up. Refused attempts count
// too (a script hammering the portal stays refused until the minute ends). Exempt users
// are neither counted nor refused. The first refusal of each user in a minute is audited.
func (l *Limiter) AdmitChange(ctx context.Context, who Who) error {
	userID := who.ID
	if l == nil {
		return nil
	}
	now := l.now()
	window := Window(now)
	var (
		exempt        bool
		own           sql.NullInt64
		global, count int
	)
	err := l.Store.SQL.QueryRowContext(ctx, admitChange, userID, window, now, l.Limits.GlobalPerMinute > 0).
		Scan(&exempt, &own, &global, &count)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if exempt {
		return nil
	}
	retry := window.Add(time.Minute).Sub(now)
	var refused *ExceededError
	if max := l.Limits.GlobalPerMinute; max > 0 && global > max {
		refused = &ExceededError{Kind: KindChanges, Scope: ScopeGlobal, Current: global, Max: max, RetryAfter: retry}
	} else if max := pick(own, l.Limits.UserPerMinute); max > 0 && count > max {
		refused = &ExceededError{Kind: KindChanges, Scope: ScopeUser, Current: count, Max: max, RetryAfter: retry}
	}
	if refused == nil {
		return nil
	}
	// The first refusal of a minute is audited (per user; platform-wide once), not every
	// one: a flood must not flood the audit log instead.
	if refused.Current == refused.Max+1 {
		err := audit.Write(ctx, l.Store.Ent, audit.Entry{
			Action:       "rate_limit.exceeded",
			ActorID:      &userID,
			ActorName:    who.Name,
			ResourceType: "user",
			ResourceID:   userID.String(),
			ResourceName: who.Name,
			Details: map[string]any{"limit_type": refused.Scope, "limit": refused.Kind, "max_value": refused.Max,
				"window": window.Format(time.RFC3339), "path": who.Path},
		})
		if err != nil {
			return err
		}
	}
	return refused
}

// Who is the user making a change, for the audit row of a refusal.
type Who struct {
	ID   uuid.UUID
	Name string
	Path string // the route refused
}

// batchLockKey serializes batch admissions platform-wide for the rest of the admitting
// transaction, so the global and per-user counts cannot be overtaken by a concurrent
// submission between counting and inserting.
const batchLockKey int64 = 0x5368657042617463 // "ShepBatc"

// unfinished are the ticket statuses of a batch item still waiting or running.
const unfinished = `('PENDING_APPROVAL', 'APPROVED', 'EXECUTING')`

const batchCounts = `
SELECT
  (SELECT count(DISTINCT batch_id) FROM approval_tickets WHERE batch_id IS NOT NULL AND status IN ` + unfinished + `),
  (SELECT count(DISTINCT batch_id) FROM approval_tickets WHERE requester_id = $1 AND batch_id IS NOT NULL AND status IN ` + unfinished + `),
  (SELECT count(*) FROM approval_tickets WHERE requester_id = $1 AND batch_id IS NOT NULL AND status IN ` + unfinished + `),
  (SELECT max(created_at) FROM ticket_batches WHERE requester_id = $1),
  (SELECT exempt AND (exempt_until IS NULL OR exempt_until > $2) FROM rate_limit_user_limits WHERE user_id = $1),
  (SELECT pending_batches FROM rate_limit_user_limits WHERE user_id = $1),
  (SELECT pending_batch_items FROM rate_limit_user_limits WHERE user_id = $1),
  (SELECT batch_cooldown_seconds FROM rate_limit_user_limits WHERE user_id = $1)`

// AdmitBatch decides, inside the transaction that will insert a batch of items for
// user, whether the batch may be submitted: the platform's unfinished batches, the
// user's unfinished batches and items, and the time since the user's last batch. It
// takes a transaction-scoped lock first, so concurrent submissions are admitted one
// after the other and exactly the limit gets in. Call it before inserting the batch.
func (l *Limiter) AdmitBatch(ctx context.Context, tx *db.Tx, userID uuid.UUID, items int) error {
	if l == nil {
		return nil
	}
	if _, err := tx.SQL.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, batchLockKey); err != nil {
		return fmt.Errorf("rate limit: lock: %w", err)
	}
	now := l.now()
	var (
		global, mine, myItems int
		last                  sql.NullTime
		exempt                sql.NullBool
		u                     userLimits
	)
	err := tx.SQL.QueryRowContext(ctx, batchCounts, userID, now).
		Scan(&global, &mine, &myItems, &last, &exempt, &u.batches, &u.items, &u.cd)
	if err != nil {
		return fmt.Errorf("rate limit: count batches: %w", err)
	}
	if exempt.Valid && exempt.Bool {
		return nil
	}
	if max := l.Limits.PendingBatches; max > 0 && global >= max {
		return &ExceededError{Kind: KindBatches, Scope: ScopeGlobal, Current: global, Max: max}
	}
	if max := pick(u.batches, l.Limits.UserPendingBatches); max > 0 && mine >= max {
		return &ExceededError{Kind: KindBatches, Scope: ScopeUser, Current: mine, Max: max}
	}
	if max := pick(u.items, l.Limits.UserPendingBatchItems); max > 0 && myItems+items > max {
		return &ExceededError{Kind: KindBatchItems, Scope: ScopeUser, Current: myItems, Max: max}
	}
	cooldown := l.Limits.BatchCooldown
	if u.cd.Valid {
		cooldown = time.Duration(u.cd.Int64) * time.Second
	}
	if cooldown > 0 && last.Valid {
		if since := max(now.Sub(last.Time), 0); since < cooldown {
			return &ExceededError{Kind: KindBatchCooling, Scope: ScopeUser, Current: int(since / time.Second),
				Max: int(cooldown / time.Second), RetryAfter: cooldown - since}
		}
	}
	return nil
}
