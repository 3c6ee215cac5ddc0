package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/ratelimit"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, limits ratelimit.Limits) (context.Context, *db.Store, *ratelimit.Limiter, *clock) {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	if err := seed.Base(ctx, store); err != nil {
		t.Fatal(err)
	}
	// Mid-minute, so a test's requests never straddle two windows.
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)}
	return ctx, store, &ratelimit.Limiter{Store: store, Limits: limits, Now: clk.now}, clk
}

func newUser(t *testing.T, ctx context.Context, store *db.Store, name string) *ent.User {
	t.Helper()
	u, err := store.Ent.User.Create().SetUsername(name).SetEmail(name + "@example.com").SetDisplayName("User " + name).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func admin(u *ent.User) ratelimit.Actor {
	return ratelimit.Actor{ID: u.ID, Name: u.Username, Principal: authz.NewPrincipal(u.ID, u.Username, []authz.Binding{{
		Role:         "PlatformAdmin",
		Permissions:  []string{authz.PlatformAdmin},
		ScopeType:    "global",
		Environments: []string{"test", "prod"},
	}}, nil)}
}

func who(u *ent.User) ratelimit.Who { return ratelimit.Who{ID: u.ID, Name: u.Username, Path: "/x"} }

func refusals(t *testing.T, ctx context.Context, store *db.Store) int {
	t.Helper()
	n, err := store.Ent.AuditLog.Query().Where(auditlog.Action("rate_limit.exceeded")).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserLimitRefusesTheChangeAfterTheLimitUntilTheMinuteEnds(t *testing.T) {
	ctx, store, l, clk := setup(t, ratelimit.Limits{GlobalPerMinute: 1000, UserPerMinute: 3})
	alice, bob := newUser(t, ctx, store, "alice"), newUser(t, ctx, store, "bob")
	for i := range 3 {
		if err := l.AdmitChange(ctx, who(alice)); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	err := l.AdmitChange(ctx, who(alice))
	e, ok := ratelimit.AsExceeded(err)
	if !ok {
		t.Fatalf("4th change: want RATE_LIMIT_EXCEEDED, got %v", err)
	}
	if e.Scope != ratelimit.ScopeUser || e.Current != 4 || e.Max != 3 || e.RetryAfterSeconds() != 30 {
		t.Fatalf("refusal: %+v retry %d", e, e.RetryAfterSeconds())
	}
	de := e.DomainError("")
	if de.Code != domain.CodeRateLimitExceeded || de.Params["limit_type"] != "user" || de.Params["retry_after"] != 30 || de.Params["contact_admin"] != true {
		t.Fatalf("spec details: %+v", de)
	}
	if msg := e.Message(); msg != "You have made 4 changes in this minute; the limit is 3 a minute. Try again in 30 seconds. Nothing was changed. If you need more, ask a platform administrator to raise your limit." {
		t.Fatalf("message: %q", msg)
	}
	// Further refusals are not audited again in the same minute.
	if _, ok := ratelimit.AsExceeded(l.AdmitChange(ctx, who(alice))); !ok {
		t.Fatal("5th change admitted")
	}
	if n := refusals(t, ctx, store); n != 1 {
		t.Fatalf("audited refusals: %d, want 1", n)
	}
	// Others are not affected; the next minute starts afresh.
	if err := l.AdmitChange(ctx, who(bob)); err != nil {
		t.Fatalf("bob: %v", err)
	}
	clk.t = clk.t.Add(time.Minute)
	if err := l.AdmitChange(ctx, who(alice)); err != nil {
		t.Fatalf("next minute: %v", err)
	}
}

func TestGlobalLimitCountsEveryoneAndExemptUsersAreNotCounted(t *testing.T) {
	ctx, store, l, _ := setup(t, ratelimit.Limits{GlobalPerMinute: 4, UserPerMinute: 100})
	root := newUser(t, ctx, store, "root")
	users := []*ent.User{newUser(t, ctx, store, "u1"), newUser(t, ctx, store, "u2")}
	bot := newUser(t, ctx, store, "bot")
	if _, err := l.SetUserLimits(ctx, admin(root), ratelimit.UserLimitInput{User: "bot", Exempt: true, Reason: "deploy pipeline"}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := l.AdmitChange(ctx, who(bot)); err != nil {
			t.Fatalf("exempt user refused: %v", err)
		}
	}
	for i := range 4 {
		if err := l.AdmitChange(ctx, who(users[i%2])); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	e, ok := ratelimit.AsExceeded(l.AdmitChange(ctx, who(users[0])))
	if !ok || e.Scope != ratelimit.ScopeGlobal || e.Max != 4 {
		t.Fatalf("5th change platform-wide: %+v", e)
	}
	usage, err := l.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if usage.GlobalChanges != 5 || len(usage.TopUsers) != 2 || usage.TopUsers[0].Username != "u1" || usage.TopUsers[0].Changes != 3 {
		t.Fatalf("usage: %+v", usage)
	}
}

func TestOwnLimitsReplaceTheDefaultAndAnExemptionEnds(t *testing.T) {
	ctx, store, l, clk := setup(t, ratelimit.Limits{UserPerMinute: 2})
	root, alice := newUser(t, ctx, store, "root"), newUser(t, ctx, store, "alice")
	until := clk.t.Add(90 * time.Second).Format("2006-01-02T15:04")
	if _, err := l.SetUserLimits(ctx, admin(root), ratelimit.UserLimitInput{User: "ALICE@example.com", Exempt: true, ExemptUntil: until,
		ChangesPerMinute: "5", Reason: "migration week"}); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := l.AdmitChange(ctx, who(alice)); err != nil {
			t.Fatalf("exempt: %v", err)
		}
	}
	clk.t = clk.t.Add(2 * time.Minute) // the exemption has ended; her own limit of 5 applies
	for i := range 5 {
		if err := l.AdmitChange(ctx, who(alice)); err != nil {
			t.Fatalf("own limit, change %d: %v", i+1, err)
		}
	}
	if e, ok := ratelimit.AsExceeded(l.AdmitChange(ctx, who(alice))); !ok || e.Max != 5 {
		t.Fatalf("6th change: %+v", e)
	}
	rows, err := l.UserLimits(ctx)
	if err != nil || len(rows) != 1 || !rows[0].ExemptExpired || *rows[0].ChangesPerMinute != 5 {
		t.Fatalf("listed: %+v %v", rows, err)
	}
	name, err := l.RemoveUserLimits(ctx, admin(root), alice.ID)
	if err != nil || name != "alice" {
		t.Fatal(name, err)
	}
	actions := []string{}
	for _, a := range store.Ent.AuditLog.Query().Where(auditlog.ResourceID(alice.ID.String())).Order(ent.Asc(auditlog.FieldCreatedAt)).AllX(ctx) {
		actions = append(actions, a.Action)
		if a.Action == "rate_limit.remove" && a.Details["before"] == nil {
			t.Fatal("removal audited without what it removed")
		}
	}
	if len(actions) != 3 || actions[0] != "rate_limit.set" || actions[1] != "rate_limit.exceeded" || actions[2] != "rate_limit.remove" {
		t.Fatalf("audit trail: %v", actions)
	}
}

func TestAdminFormRefusesBadInputAndNonAdmins(t *testing.T) {
	ctx, store, l, _ := setup(t, ratelimit.Spec)
	root := newUser(t, ctx, store, "root")
	newUser(t, ctx, store, "alice")
	var ve *domain.ValidationError
	_, err := l.SetUserLimits(ctx, admin(root), ratelimit.UserLimitInput{User: "nobody", ChangesPerMinute: "-1", PendingBatches: "1e3",
		ExemptUntil: "2020-01-01T00:00"})
	if !errors.As(err, &ve) {
		t.Fatalf("want field errors, got %v", err)
	}
	for _, f := range []string{"user", "changes_per_minute", "pending_batches", "exempt_until", "reason"} {
		if ve.Fields[f] == "" {
			t.Errorf("no error for %s: %v", f, ve.Fields)
		}
	}
	if _, err := l.SetUserLimits(ctx, admin(root), ratelimit.UserLimitInput{User: "alice", Reason: "x"}); !errors.As(err, &ve) || ve.Fields["changes_per_minute"] == "" {
		t.Fatalf("neither exempt nor a limit: %v", err)
	}
	nobody := ratelimit.Actor{ID: root.ID, Name: "root", Principal: authz.NewPrincipal(root.ID, "root", nil, nil)}
	var de *domain.Error
	if _, err := l.SetUserLimits(ctx, nobody, ratelimit.UserLimitInput{User: "alice", Exempt: true, Reason: "x"}); !errors.As(err, &de) || de.Code != domain.CodeForbidden {
		t.Fatalf("non-admin: %v", err)
	}
	if n, _ := store.Ent.RateLimitUserLimit.Query().Count(ctx); n != 0 {
		t.Fatalf("%d rows saved by refused forms", n)
	}
}

// Concurrent changes on one user race for the last places: exactly the limit gets in,
// as it would across replicas (each request is one statement on the shared row).
func TestConcurrentChangesAdmitExactlyTheLimit(t *testing.T) {
	ctx, store, l, _ := setup(t, ratelimit.Limits{GlobalPerMinute: 1000, UserPerMinute: 10})
	alice := newUser(t, ctx, store, "alice")
	var admitted, refused atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			err := l.AdmitChange(ctx, who(alice))
			if _, ok := ratelimit.AsExceeded(err); ok {
				refused.Add(1)
			} else if err == nil {
				admitted.Add(1)
			} else {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 10 || refused.Load() != 20 {
		t.Fatalf("admitted %d, refused %d; want 10 and 20", admitted.Load(), refused.Load())
	}
	if n := refusals(t, ctx, store); n != 1 {
		t.Fatalf("audited refusals: %d", n)
	}
}
