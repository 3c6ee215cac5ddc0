package auth_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/loginthrottle"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// clock is a settable time shared by the services of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// throttledService is a seeded service whose throttle runs on the test's clock.
func throttledService(t *testing.T, store *db.Store, clk *clock) *auth.Service {
	t.Helper()
	return &auth.Service{Store: store, Policy: password.Policy{Mode: "nist"}, Logger: slog.New(slog.DiscardHandler), Now: clk.Now}
}

// replicas are two services with pools of their own on one database, like two processes.
func replicas(t *testing.T, clk *clock) (*auth.Service, *auth.Service) {
	t.Helper()
	dsn := testdb.NewDSN(t)
	var out []*auth.Service
	for range 2 {
		pool, err := pgxpool.New(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store := db.NewStore(db.SQLDB(pool))
		t.Cleanup(func() { _ = store.SQL.Close() })
		out = append(out, throttledService(t, store, clk))
	}
	if err := seed.Base(t.Context(), out[0].Store); err != nil {
		t.Fatal(err)
	}
	return out[0], out[1]
}

func localUser(t *testing.T, c *ent.Client, name, secret string, forced bool) *ent.User {
	t.Helper()
	hash, err := password.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	return c.User.Create().SetUsername(name).SetAuthType(user.AuthTypeLocal).SetPasswordHash(hash).
		SetForcePasswordChange(forced).SaveX(t.Context())
}

func throttleRow(t *testing.T, c *ent.Client, key string) *ent.LoginThrottle {
	t.Helper()
	r, err := c.LoginThrottle.Get(t.Context(), key)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func asThrottled(t *testing.T, err error) *auth.ThrottledError {
	t.Helper()
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *ThrottledError", err)
	}
	return te
}

func throttleAudits(t *testing.T, c *ent.Client, key, event string) []*ent.AuditLog {
	t.Helper()
	rows, err := c.AuditLog.Query().Where(auditlog.Action(auth.ActionLoginThrottled), auditlog.ResourceID(key)).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []*ent.AuditLog
	for _, r := range rows {
		if r.Details["event"] == event {
			out = append(out, r)
		}
	}
	return out
}

func TestThrottlePolicyNumbers(t *testing.T) {
	t.Parallel()
	p := auth.DefaultThrottlePolicy
	want := map[int]time.Duration{1: 0, 4: 0, 5: 2 * time.Second, 6: 4 * time.Second, 7: 8 * time.Second,
		13: 512 * time.Second, 14: 15 * time.Minute, 1000: 15 * time.Minute}
	for n, w := range want {
		if got := p.Account.WaitAfter(n); got != w {
			t.Errorf("account WaitAfter(%d) = %s, want %s", n, got, w)
		}
	}
	if p.Address.WaitAfter(19) != 0 || p.Address.WaitAfter(20) != 2*time.Second || p.Address.WaitAfter(200) != 15*time.Minute {
		t.Errorf("address limit: 19 → %s, 20 → %s, 200 → %s", p.Address.WaitAfter(19), p.Address.WaitAfter(20), p.Address.WaitAfter(200))
	}
	if p.Forget <= p.Account.Max || p.Forget <= p.Address.Max {
		t.Error("counters must outlive the longest block")
	}
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond: "1 second", 2 * time.Second: "2 seconds", 59*time.Second + time.Millisecond: "1 minute",
		90 * time.Second: "2 minutes", 15 * time.Minute: "15 minutes", time.Hour: "1 hour",
	} {
		if got := auth.HumanWait(d); got != want {
			t.Errorf("HumanWait(%s) = %q, want %q", d, got, want)
		}
	}
	te := &auth.ThrottledError{Wait: 100 * time.Second}
	if te.Message() != "Too many failed sign-ins. Try again in 2 minutes." || te.RetryAfter() != 100 {
		t.Errorf("message %q, retry after %d", te.Message(), te.RetryAfter())
	}
}

func TestThrottleKeys(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7": "ip:192.0.2.7", "::ffff:192.0.2.7": "ip:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "ip:2001:db8:1:2::/64", "2001:db8:1:2::9": "ip:2001:db8:1:2::/64", "fe80::1%eth0": "ip:fe80::/64",
	} {
		if got := auth.AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
	if auth.AccountKey(" Alice ") != "user:alice" || auth.AccountKey("ALICE") != auth.AccountKey("alice") {
		t.Errorf("account keys: %q %q", auth.AccountKey(" Alice "), auth.AccountKey("ALICE"))
	}
	if k := auth.AccountKey(strings.Repeat("ü", 300)); len(k) > len("user:")+255 || !utf8.ValidString(k) || !strings.HasPrefix(k, "user:üü") {
		t.Errorf("long username key has %d bytes", len(k))
	}
	if k := auth.AccountKey("bad\xffname"); !utf8.ValidString(k) {
		t.Errorf("key of an invalid UTF-8 name is not storable: %q", k)
	}
}

// The sixth attempt waits: the fifth failure blocks the account for 2 s, attempts in the
// block are refused even with the right password (and without an audit flood), and once
// the clock passes the block the right password works and clears the account's counter.
func TestLoginLocalThrottle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	c := svc.Store.Ent
	localUser(t, c, "erin", "erins-long-Passphrase", false)
	const ip = "198.51.100.4"

	for i := 1; i <= 4; i++ {
		if _, err := svc.LoginLocal(ctx, "Erin", "wrong-"+fmt.Sprint(i), ip); !errors.Is(err, auth.ErrInvalidCredentials) || errors.As(err, new(*auth.ThrottledError)) {
			t.Fatalf("failure %d: %v, want plain ErrInvalidCredentials", i, err)
		}
	}
	_, err := svc.LoginLocal(ctx, "erin", "wrong-5", ip)
	te := asThrottled(t, err)
	if !errors.Is(err, auth.ErrInvalidCredentials) || te.Scope != auth.ScopeAccount || te.Wait != 2*time.Second {
		t.Fatalf("fifth failure: %v (scope %s, wait %s)", err, te.Scope, te.Wait)
	}
	if len(auditRows(t, c, "user.login_failed", "Erin")) != 4 || len(auditRows(t, c, "user.login_failed", "erin")) != 1 {
		t.Fatal("each checked password is audited as user.login_failed")
	}
	blocked := throttleAudits(t, c, "user:erin", "blocked")
	if len(blocked) != 1 || blocked[0].Details["wait_seconds"] != float64(2) || blocked[0].Details["failures"] != float64(5) ||
		blocked[0].Details["method"] != "local" || blocked[0].Details["scope"] != "account" {
		t.Fatalf("blocked audit rows: %+v", blocked)
	}

	// Inside the block: refused with the right password, the password is not checked
	// (no new login_failed or login rows), and only the first refusal is audited.
	clk.Advance(time.Second)
	for range 10 {
		_, err := svc.LoginLocal(ctx, "erin", "erins-long-Passphrase", ip)
		te := asThrottled(t, err)
		if errors.Is(err, auth.ErrInvalidCredentials) || te.Wait != time.Second || te.RetryAfter() != 1 {
			t.Fatalf("refusal in block: %v", err)
		}
	}
	if n := len(auditRows(t, c, "user.login_failed", "erin")); n != 1 {
		t.Errorf("refused attempts were audited as failed logins: %d rows", n)
	}
	if getUser(t, c, "erin").LastLoginAt != nil {
		t.Error("signed in while blocked")
	}
	if refused := throttleAudits(t, c, "user:erin", "refused"); len(refused) != 1 || refused[0].Details["wait_seconds"] != float64(1) {
		t.Errorf("refused audit rows: %d, want 1", len(refused))
	}
	for _, r := range append(throttleAudits(t, c, "user:erin", "refused"), blocked...) {
		if d := fmt.Sprint(r.Details); strings.Contains(d, "Passphrase") || strings.Contains(d, "wrong-") {
			t.Fatalf("a password in the audit: %v", r.Details)
		}
	}

	clk.Advance(time.Second)
	u, err := svc.LoginLocal(ctx, "erin", "erins-long-Passphrase", ip)
	if err != nil || u.Username != "erin" {
		t.Fatalf("after the block: %v", err)
	}
	if throttleRow(t, c, "user:erin") != nil {
		t.Error("a successful sign-in keeps the account's counter")
	}
	if r := throttleRow(t, c, "ip:"+ip); r == nil || r.Failures != 5 {
		t.Errorf("the address counter after a success: %+v, want 5 failures kept", r)
	}
}

// Each failure after the free ones doubles the wait, up to 15 minutes; an hour after the
// last failure the counter starts again.
func TestThrottleBackoffGrowsAndIsForgotten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	th := svc.Throttles()
	a := auth.Attempt{Method: "local", Username: "mallory"}
	var waits []time.Duration
	for range 16 {
		if err := th.Check(ctx, a); err != nil {
			t.Fatalf("checked after its wait: %v", err)
		}
		blocked, err := th.Fail(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		var w time.Duration
		if blocked != nil {
			w = blocked.Wait
		}
		waits = append(waits, w)
		clk.Advance(w)
	}
	s := time.Second
	want := []time.Duration{0, 0, 0, 0, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 512 * s, 15 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	r := throttleRow(t, svc.Store.Ent, "user:mallory")
	if r.Failures != 16 || !r.LastFailureAt.Equal(clk.Now().Add(-15*time.Minute)) {
		t.Fatalf("row: %+v", r)
	}
	clk.Advance(time.Hour + time.Second)
	if err := th.Check(ctx, a); err != nil {
		t.Fatal(err)
	}
	if blocked, err := th.Fail(ctx, a); err != nil || blocked != nil {
		t.Fatalf("failure after a quiet hour: %v %v", blocked, err)
	}
	if r := throttleRow(t, svc.Store.Ent, "user:mallory"); r.Failures != 1 || r.BlockedUntil != nil || !r.FirstFailureAt.Equal(clk.Now()) {
		t.Fatalf("counter after a quiet hour: failures %d, blocked %v", r.Failures, r.BlockedUntil)
	}
}

// Two processes with pools of their own share the counters: failures on one block the
// other, and parallel failures on both count exactly.
func TestThrottleSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	a, b := replicas(t, clk)
	localUser(t, a.Store.Ent, "frank", "franks-long-Passphrase", false)
	for i := range 5 {
		svc := []*auth.Service{a, b}[i%2]
		if _, err := svc.LoginLocal(ctx, "frank", "wrong", "203.0.113.9"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	_, err := b.LoginLocal(ctx, "frank", "franks-long-Passphrase", "192.0.2.50")
	if te := asThrottled(t, err); te.Scope != auth.ScopeAccount {
		t.Fatalf("replica b after failures on both: %v", err)
	}
	_, err = a.LoginLocal(ctx, "frank", "franks-long-Passphrase", "192.0.2.51")
	asThrottled(t, err)
}

// N failures at once, on two pools, count N: the upsert loses no update.
func TestThrottleCountsConcurrentFailures(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	a, b := replicas(t, clk)
	const n = 40
	attempt := auth.Attempt{Method: "local", Username: "grace", Address: "192.0.2.99"}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var blockedMu sync.Mutex
	var longest time.Duration
	start := make(chan struct{})
	for i := range n {
		th := []*auth.Service{a, b}[i%2].Throttles()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			blocked, err := th.Fail(ctx, attempt)
			if blocked != nil {
				blockedMu.Lock()
				longest = max(longest, blocked.Wait)
				blockedMu.Unlock()
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := a.Store.Ent
	for _, key := range []string{"user:grace", "ip:192.0.2.99"} {
		if r := throttleRow(t, c, key); r == nil || r.Failures != n {
			t.Errorf("%s: %+v, want %d failures", key, r, n)
		}
	}
	// The block is the one of the highest count, whatever order the updates ran in.
	r := throttleRow(t, c, "user:grace")
	want := auth.DefaultThrottlePolicy.Account.WaitAfter(n)
	if r.BlockedUntil == nil || r.BlockedUntil.Sub(clk.Now()) != want || longest != want {
		t.Errorf("blocked until %v (longest reported %s), want now + %s", r.BlockedUntil, longest, want)
	}
}

// One address guessing at many accounts is stopped by the address limit; other
// addresses and the accounts themselves are not.
func TestThrottleAddressLimitAcrossUsernames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	localUser(t, svc.Store.Ent, "heidi", "heidis-long-Passphrase", false)
	const ip = "203.0.113.66"
	for i := 1; i <= 19; i++ {
		// One name is not even UTF-8: it must count like the others, not fail the request.
		name := map[bool]string{true: "guess\xff", false: fmt.Sprintf("guess%02d", i)}[i == 7]
		if _, err := svc.LoginLocal(ctx, name, "x", ip); !errors.Is(err, auth.ErrInvalidCredentials) || errors.As(err, new(*auth.ThrottledError)) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := svc.LoginLocal(ctx, "guess20", "x", ip)
	if te := asThrottled(t, err); te.Scope != auth.ScopeAddress || te.Wait != 2*time.Second {
		t.Fatalf("20th failure from one address: scope %s wait %s", te.Scope, te.Wait)
	}
	_, err = svc.LoginLocal(ctx, "heidi", "heidis-long-Passphrase", ip)
	if te := asThrottled(t, err); te.Scope != auth.ScopeAddress {
		t.Fatalf("right password from the blocked address: %v", err)
	}
	if _, err := svc.LoginLocal(ctx, "heidi", "heidis-long-Passphrase", "203.0.113.67"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if len(throttleAudits(t, svc.Store.Ent, "ip:"+ip, "blocked")) != 1 {
		t.Error("the address block is not audited")
	}
}

// A wrong current password counts against the account, and a blocked account cannot
// change its password, even with the right current one, until the wait is over.
func TestChangePasswordThrottle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	ivan := localUser(t, svc.Store.Ent, "ivan", "ivans-long-Passphrase", false)
	const next = "a brand new passphrase"
	for i := 1; i <= 4; i++ {
		problems, err := svc.ChangePassword(ctx, ivan.ID, "wrong", next, next)
		if err != nil || !hasProblem(problems, "current password is not correct") {
			t.Fatalf("wrong current %d: %v %v", i, problems, err)
		}
	}
	_, err := svc.ChangePassword(ctx, ivan.ID, "wrong", next, next)
	if te := asThrottled(t, err); te.Wait != 2*time.Second {
		t.Fatalf("fifth wrong current password: %v", err)
	}
	_, err = svc.ChangePassword(ctx, ivan.ID, "ivans-long-Passphrase", next, next)
	asThrottled(t, err)
	if _, err := svc.LoginLocal(ctx, "ivan", "ivans-long-Passphrase", "192.0.2.1"); !errors.As(err, new(*auth.ThrottledError)) {
		t.Fatalf("sign-in shares the account's counter: %v", err)
	}
	blocked := throttleAudits(t, svc.Store.Ent, "user:ivan", "blocked")
	if len(blocked) != 1 || blocked[0].Details["method"] != "password_change" {
		t.Fatalf("blocked audit: %+v", blocked)
	}
	clk.Advance(2 * time.Second)
	if problems, err := svc.ChangePassword(ctx, ivan.ID, "ivans-long-Passphrase", next, next); err != nil || problems != nil {
		t.Fatalf("after the wait: %v %v", problems, err)
	}
	if throttleRow(t, svc.Store.Ent, "user:ivan") != nil {
		t.Error("the proven current password keeps the counter")
	}
}

// Failed OIDC callbacks count per address; the IdP being down does not.
func TestOIDCCallbackThrottle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	const ip = "2001:db8:5:6::1"
	for range 5 {
		if err := svc.OIDCCallbackFailed(ctx, ip, "idp_unreachable"); err != nil {
			t.Fatal(err)
		}
	}
	if throttleRow(t, svc.Store.Ent, "ip:2001:db8:5:6::/64") != nil {
		t.Fatal("an unreachable IdP counted against the visitor")
	}
	for i := 1; i <= 19; i++ {
		if err := svc.OIDCCallbackFailed(ctx, ip, "state_mismatch"); err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if err := svc.CheckOIDCCallback(ctx, ip); err != nil {
		t.Fatalf("19 failures: %v", err)
	}
	if te := asThrottled(t, svc.OIDCCallbackFailed(ctx, ip, "invalid_token")); te.Scope != auth.ScopeAddress {
		t.Fatalf("20th failure: %v", te)
	}
	// Another address of the same /64 is the same client.
	if te := asThrottled(t, svc.CheckOIDCCallback(ctx, "2001:db8:5:6::abcd")); te.Wait != 2*time.Second {
		t.Fatalf("same /64: %v", te)
	}
	if err := svc.CheckOIDCCallback(ctx, "2001:db8:5:7::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if n := len(auditRows(t, svc.Store.Ent, "user.login_failed", "")); n != 25 {
		t.Errorf("%d failed callbacks audited, want 25", n)
	}
}

func TestThrottleListAndClear(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	svc := throttledService(t, newService(t, false).Store, clk)
	th := svc.Throttles()
	if _, err := th.Fail(ctx, auth.Attempt{Method: "local", Username: "old"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	for range 5 {
		if _, err := th.Fail(ctx, auth.Attempt{Method: "local", Username: "judy", Address: "192.0.2.8"}); err != nil {
			t.Fatal(err)
		}
	}
	// "old" was forgotten an hour after its failure, and pruned by judy's.
	if throttleRow(t, svc.Store.Ent, "user:old") != nil {
		t.Error("forgotten counter not pruned")
	}
	clk.Advance(time.Second)
	if _, err := th.Fail(ctx, auth.Attempt{Method: "local", Username: "kim"}); err != nil {
		t.Fatal(err)
	}
	list, err := th.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"user:judy", "user:kim", "ip:192.0.2.8"}) || list[0].BlockedUntil == nil || list[0].Scope != auth.ScopeAccount ||
		list[2].Scope != auth.ScopeAddress || list[2].Subject != "192.0.2.8" || list[2].Failures != 5 {
		t.Fatalf("list: %+v", list)
	}
	n, err := th.Counts(ctx)
	if err != nil || n.Blocked != 1 || n.Counting != 3 {
		t.Fatalf("counts %+v %v", n, err)
	}

	admin := auth.ThrottleActor{ID: uuid.New(), Name: "carol", PlatformAdmin: true}
	var de *domain.Error
	if err := th.Clear(ctx, auth.ThrottleActor{ID: uuid.New(), Name: "alice"}, "user:judy"); !errors.As(err, &de) || de.Code != domain.CodeForbidden {
		t.Fatalf("clear by a non-admin: %v", err)
	}
	if err := th.Clear(ctx, admin, "user:judy"); err != nil {
		t.Fatal(err)
	}
	if err := th.Check(ctx, auth.Attempt{Method: "local", Username: "judy"}); err != nil {
		t.Fatalf("still blocked after clear: %v", err)
	}
	if err := th.Clear(ctx, admin, "user:judy"); !errors.As(err, &de) || de.Code != domain.CodeInvalidInput || !strings.Contains(de.Message, "Account judy") {
		t.Fatalf("clearing twice: %v", err)
	}
	rows, err := svc.Store.Ent.AuditLog.Query().Where(auditlog.Action(auth.ActionThrottleClear)).All(ctx)
	if err != nil || len(rows) != 1 || rows[0].ActorName != "carol" || rows[0].ResourceID != "user:judy" ||
		rows[0].Details["was_blocked"] != true || rows[0].Details["failures"] != float64(5) {
		t.Fatalf("clear audit: %+v %v", rows, err)
	}
	if n, _ := svc.Store.Ent.LoginThrottle.Query().Where(loginthrottle.ID("ip:192.0.2.8")).Count(ctx); n != 1 {
		t.Error("clearing the account cleared the address too")
	}
}
