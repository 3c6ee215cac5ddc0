package auth

import (
	"context"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/loginthrottle"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// ThrottleEntry is one counter as platform admins see it.
type ThrottleEntry struct {
	Key            string
	Scope, Subject string // account or address, and the name or address it counts
	Failures       int
	FirstFailureAt time.Time
	LastFailureAt  time.Time
	BlockedUntil   *time.Time // set while the key is blocked
}

// ListLimit caps the admin list; the blocked keys come first.
const ListLimit = 500

// List returns the keys that are blocked or still counting failures: blocked ones first
// (longest block first), then the most recent failures.
func (t *Throttle) List(ctx context.Context) ([]ThrottleEntry, error) {
	now := t.now()
	rows, err := t.Store.Ent.LoginThrottle.Query().
		Where(loginthrottle.Or(loginthrottle.BlockedUntilGT(now), loginthrottle.LastFailureAtGTE(now.Add(-t.policy().Forget)))).
		Order(loginthrottle.ByBlockedUntil(sql.OrderDesc(), sql.OrderNullsLast()), loginthrottle.ByLastFailureAt(sql.OrderDesc()), loginthrottle.ByID()).
		Limit(ListLimit).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ThrottleEntry, 0, len(rows))
	for _, r := range rows {
		e := ThrottleEntry{Key: r.ID, Failures: r.Failures, FirstFailureAt: r.FirstFailureAt, LastFailureAt: r.LastFailureAt}
		e.Scope, e.Subject = KeyScope(r.ID)
		if r.BlockedUntil != nil && r.BlockedUntil.After(now) {
			e.BlockedUntil = r.BlockedUntil
		}
		out = append(out, e)
	}
	// Blocks that already ended sort with the keys that are only counting.
	slices.SortStableFunc(out, func(a, b ThrottleEntry) int {
		switch {
		case a.BlockedUntil != nil && b.BlockedUntil != nil:
			return b.BlockedUntil.Compare(*a.BlockedUntil)
		case a.BlockedUntil != nil:
			return -1
		case b.BlockedUntil != nil:
			return 1
		}
		return b.LastFailureAt.Compare(a.LastFailureAt)
	})
	return out, nil
}

// ThrottleCounts are the admin overview's numbers.
type ThrottleCounts struct{ Blocked, Counting int }

// Counts returns how many keys are blocked now and how many are counting failures.
func (t *Throttle) Counts(ctx context.Context) (ThrottleCounts, error) {
	now := t.now()
	q := t.Store.Ent.LoginThrottle.Query()
	blocked, err := q.Clone().Where(loginthrottle.BlockedUntilGT(now)).Count(ctx)
	if err != nil {
		return ThrottleCounts{}, err
	}
	counting, err := q.Clone().Where(loginthrottle.Or(loginthrottle.BlockedUntilGT(now),
		loginthrottle.LastFailureAtGTE(now.Add(-t.policy().Forget)))).Count(ctx)
	return ThrottleCounts{Blocked: blocked, Counting: counting}, err
}

// ThrottleActor is the admin clearing a counter.
type ThrottleActor struct {
	ID            uuid.UUID
	Name          string
	PlatformAdmin bool
}

// Clear forgets a key's failures, ending its block at once, and audits who did it. A key
// that is no longer counted (cleared meanwhile, or forgotten) is a refusal to show.
func (t *Throttle) Clear(ctx context.Context, by ThrottleActor, key string) error {
	if !by.PlatformAdmin {
		return domain.Errf(domain.CodeForbidden, "", "Sign-in throttling is managed by platform administrators.")
	}
	now := t.now()
	scope, subject := KeyScope(key)
	return t.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		r, err := tx.Ent.LoginThrottle.Query().Where(loginthrottle.ID(key)).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) || key == "" {
			return domain.Errf(domain.CodeInvalidInput, "key", "%s has no failed sign-ins to clear (perhaps someone cleared it already).", describeKey(scope, subject))
		}
		if err != nil {
			return err
		}
		if err := tx.Ent.LoginThrottle.DeleteOneID(key).Exec(ctx); err != nil {
			return err
		}
		details := map[string]any{"scope": scope, "failures": r.Failures, "last_failure_at": r.LastFailureAt.UTC().Format(time.RFC3339),
			"was_blocked": r.BlockedUntil != nil && r.BlockedUntil.After(now)}
		if r.BlockedUntil != nil && r.BlockedUntil.After(now) {
			details["blocked_until"] = r.BlockedUntil.UTC().Format(time.RFC3339)
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: ActionThrottleClear, ActorID: &by.ID, ActorName: by.Name,
			ResourceType: "login_throttle", ResourceID: key, ResourceName: subject, Details: details})
	})
}

// describeKey names a key in a sentence: "Account alice", "Address 192.0.2.7".
func describeKey(scope, subject string) string {
	if scope == ScopeAddress {
		return "Address " + subject
	}
	if subject == "" {
		return "This entry"
	}
	return "Account " + subject
}
