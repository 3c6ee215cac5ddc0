package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/ratelimituserlimit"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Actor is the platform admin changing a user's limits.
type Actor = authz.Actor

func check(a Actor) error { return a.RequirePlatformAdmin("Only platform admins manage rate limits.") }

// UserLimit is one user's exception as the admin page lists it.
type UserLimit struct {
	UserID        uuid.UUID
	Username      string
	DisplayName   string
	Exempt        bool
	ExemptUntil   *time.Time
	ExemptExpired bool // the exemption ended; the defaults apply again
	// Own limits; nil: the default.
	ChangesPerMinute, PendingBatches, PendingBatchItems, BatchCooldownSeconds *int
	Reason                                                                    string
	UpdatedByName                                                             string
	UpdatedAt                                                                 time.Time
}

// UserUsage is one user's changes in the current minute.
type UserUsage struct {
	UserID      uuid.UUID
	Username    string
	DisplayName string
	Changes     int
}

// Usage is what the limits have counted in the current minute.
type Usage struct {
	Window        time.Time
	GlobalChanges int
	TopUsers      []UserUsage // most changes first
	// Batch items waiting or running, platform-wide.
	PendingBatches int
}

// TopUsersShown bounds the "this minute" list.
const TopUsersShown = 20

// Usage reads the current minute's counters and the unfinished batches.
func (l *Limiter) Usage(ctx context.Context) (Usage, error) {
	now := l.now()
	u := Usage{Window: Window(now)}
	rows, err := l.Store.SQL.QueryContext(ctx, `
SELECT c.key, c.current_value, COALESCE(u.id::text, ''), COALESCE(u.username, ''), COALESCE(u.display_name, '')
FROM rate_limit_counters c
LEFT JOIN users u ON c.key = 'user:' || u.id::text
WHERE c.window_start = $1
ORDER BY (c.key = 'global') DESC, c.current_value DESC, c.key
LIMIT $2`, u.Window, TopUsersShown+1)
	if err != nil {
		return u, err
	}
	defer rows.Close()
	for rows.Next() {
		var key, id, name, display string
		var n int
		if err := rows.Scan(&key, &n, &id, &name, &display); err != nil {
			return u, err
		}
		if key == "global" {
			u.GlobalChanges = n
			continue
		}
		uid, _ := uuid.Parse(id)
		if len(u.TopUsers) < TopUsersShown && uid != uuid.Nil {
			u.TopUsers = append(u.TopUsers, UserUsage{UserID: uid, Username: name, DisplayName: display, Changes: n})
		}
	}
	if err := rows.Err(); err != nil {
		return u, err
	}
	u.PendingBatches, err = db.Count(ctx, l.Store.Ent,
		`SELECT count(DISTINCT batch_id) FROM approval_tickets WHERE batch_id IS NOT NULL AND status IN `+unfinished)
	return u, err
}

// UserLimits lists every user with an exception, by username.
func (l *Limiter) UserLimits(ctx context.Context) ([]UserLimit, error) {
	rows, err := l.Store.Ent.RateLimitUserLimit.Query().All(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	users, err := l.Store.Ent.User.Query().Where(user.IDIn(ids...)).Order(ent.Asc(user.FieldUsername)).All(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]*ent.RateLimitUserLimit, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	now := l.now()
	out := make([]UserLimit, 0, len(users))
	for _, u := range users {
		out = append(out, view(u, byID[u.ID], now))
	}
	return out, nil
}

func view(u *ent.User, r *ent.RateLimitUserLimit, now time.Time) UserLimit {
	return UserLimit{
		UserID:               u.ID,
		Username:             u.Username,
		DisplayName:          u.DisplayName,
		Exempt:               r.Exempt,
		ExemptUntil:          r.ExemptUntil,
		ExemptExpired:        r.Exempt && r.ExemptUntil != nil && !r.ExemptUntil.After(now),
		ChangesPerMinute:     r.ChangesPerMinute,
		PendingBatches:       r.PendingBatches,
		PendingBatchItems:    r.PendingBatchItems,
		BatchCooldownSeconds: r.BatchCooldownSeconds,
		Reason:               r.Reason,
		UpdatedByName:        r.UpdatedByName,
		UpdatedAt:            r.UpdatedAt,
	}
}

// UserLimitInput is the admin form: whom, exempt or own numbers, and why.
type UserLimitInput struct {
	User        string // username or email
	Exempt      bool
	ExemptUntil string // "2026-12-31T18:00" (local form value, read as UTC) or ""
	// Own limits as typed; "" keeps the default.
	ChangesPerMinute, PendingBatches, PendingBatchItems, BatchCooldownSeconds string
	Reason                                                                    string
}

// Form field names, as the page's inputs are named.
const (
	FieldUser        = "user"
	FieldExemptUntil = "exempt_until"
	FieldChanges     = "changes_per_minute"
	FieldBatches     = "pending_batches"
	FieldBatchItems  = "pending_batch_items"
	FieldCooldown    = "batch_cooldown_seconds"
	FieldReason      = "reason"
)

// SetUserLimits creates or replaces one user's exception, audited with before and after.
func (l *Limiter) SetUserLimits(ctx context.Context, a Actor, in UserLimitInput) (UserLimit, error) {
	if err := check(a); err != nil {
		return UserLimit{}, err
	}
	fe := domain.FieldErrors{}
	num := func(field, v string, most int) *int {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil
		}
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != v || n < 0 || n > most {
			fe[field] = fmt.Sprintf("Enter a whole number from 0 to %d, or leave it empty for the default.", most)
			return nil
		}
		return &n
	}
	changes := num(FieldChanges, in.ChangesPerMinute, 1_000_000)
	batches := num(FieldBatches, in.PendingBatches, 10_000)
	items := num(FieldBatchItems, in.PendingBatchItems, 100_000)
	cooldown := num(FieldCooldown, in.BatchCooldownSeconds, 86_400)
	var until *time.Time
	if s := strings.TrimSpace(in.ExemptUntil); s != "" {
		t, err := time.Parse("2006-01-02T15:04", s)
		switch {
		case err != nil:
			fe[FieldExemptUntil] = "Enter a date and time, or leave it empty for an exemption without end."
		case !in.Exempt:
			fe[FieldExemptUntil] = "An end date only applies to an exemption: tick “Exempt from all limits” or clear the date."
		case !t.After(l.now()):
			fe[FieldExemptUntil] = "The end must be in the future."
		default:
			until = &t
		}
	}
	if !in.Exempt && changes == nil && batches == nil && items == nil && cooldown == nil && len(fe) == 0 {
		fe[FieldChanges] = "Exempt the user, or give at least one limit of their own."
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		fe[FieldReason] = "Say why this user needs different limits; it is audited."
	} else if len(reason) > 500 {
		fe[FieldReason] = "Keep the reason under 500 characters."
	}
	who := strings.TrimSpace(in.User)
	var u *ent.User
	if who == "" {
		fe[FieldUser] = "Enter the user's username or email."
	} else {
		var err error
		u, err = l.Store.Ent.User.Query().Where(user.Or(user.UsernameEQ(who), user.EmailEqualFold(who))).First(ctx)
		if ent.IsNotFound(err) {
			fe[FieldUser] = "No user has this username or email. Users appear once they have signed in."
		} else if err != nil {
			return UserLimit{}, err
		}
	}
	if len(fe) > 0 {
		return UserLimit{}, &domain.ValidationError{Fields: fe}
	}
	now := l.now()
	var out UserLimit
	err := l.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		before, err := tx.Ent.RateLimitUserLimit.Query().Where(ratelimituserlimit.ID(u.ID)).ForUpdate().Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		err = tx.Ent.RateLimitUserLimit.Create().
			SetID(u.ID).
			SetExempt(in.Exempt).
			SetNillableExemptUntil(until).
			SetNillableChangesPerMinute(changes).
			SetNillablePendingBatches(batches).
			SetNillablePendingBatchItems(items).
			SetNillableBatchCooldownSeconds(cooldown).
			SetReason(reason).
			SetUpdatedBy(a.ID).
			SetUpdatedByName(a.Name).
			SetUpdatedAt(now).
			OnConflictColumns(ratelimituserlimit.FieldID).
			UpdateNewValues().
			Exec(ctx)
		if err != nil {
			return err
		}
		after, err := tx.Ent.RateLimitUserLimit.Get(ctx, u.ID)
		if err != nil {
			return err
		}
		out = view(u, after, now)
		details := map[string]any{"after": snapshot(after), "reason": reason}
		if before != nil {
			details["before"] = snapshot(before)
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{
			Action:       "rate_limit.set",
			ActorID:      &a.ID,
			ActorName:    a.Name,
			ResourceType: "user",
			ResourceID:   u.ID.String(),
			ResourceName: u.Username,
			Details:      details,
		})
	})
	return out, err
}

// RemoveUserLimits drops a user's exception: the defaults apply again.
func (l *Limiter) RemoveUserLimits(ctx context.Context, a Actor, userID uuid.UUID) (string, error) {
	if err := check(a); err != nil {
		return "", err
	}
	name := ""
	err := l.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := tx.Ent.RateLimitUserLimit.Query().Where(ratelimituserlimit.ID(userID)).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return domain.Errf(domain.CodeNotFound, "", "This user has no limits of their own (any more).")
		}
		if err != nil {
			return err
		}
		u, err := tx.Ent.User.Get(ctx, userID)
		if err != nil {
			return err
		}
		name = u.Username
		if err := tx.Ent.RateLimitUserLimit.DeleteOneID(userID).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{
			Action:       "rate_limit.remove",
			ActorID:      &a.ID,
			ActorName:    a.Name,
			ResourceType: "user",
			ResourceID:   userID.String(),
			ResourceName: u.Username,
			Details:      map[string]any{"before": snapshot(cur)},
		})
	})
	return name, err
}

func snapshot(r *ent.RateLimitUserLimit) map[string]any {
	m := map[string]any{"exempt": r.Exempt, "reason": r.Reason}
	if r.ExemptUntil != nil {
		m["exempt_until"] = r.ExemptUntil.UTC().Format(time.RFC3339)
	}
	for k, v := range map[string]*int{FieldChanges: r.ChangesPerMinute, FieldBatches: r.PendingBatches,
		FieldBatchItems: r.PendingBatchItems, FieldCooldown: r.BatchCooldownSeconds} {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}
