package governance

import (
	"errors"
	"sync"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent/ticketbatch"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/ratelimit"
)

// limited gives the fixture's service batch limits and a clock the test moves.
func (f *fixture) limited(l ratelimit.Limits) *time.Time {
	now := time.Now()
	f.gov.Limits = &ratelimit.Limiter{Store: f.store, Limits: l, Now: func() time.Time { return now }}
	return &now
}

func rateLimited(t *testing.T, err error, kind string) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeRateLimitExceeded || de.Field != "count" || de.Params["limit"] != kind {
		t.Fatalf("want RATE_LIMIT_EXCEEDED (%s) on the count field, got %v", kind, err)
	}
	return de
}

// Submissions on different services (no shared service lock) race for the last places
// of the per-user pending-batch limit: exactly the limit is admitted, the rest refused
// whole, nothing half-created.
func TestConcurrentBatchesAdmitExactlyTheUserLimit(t *testing.T) {
	f := newFixture(t)
	f.limited(ratelimit.Limits{UserPendingBatches: 3, UserPendingBatchItems: 100})
	alice := f.who(f.alice)
	const racers = 8
	inputs := make([]RequestInput, racers)
	for i := range racers {
		svc := must(f.store.Ent.Service.Create().SetSystemID(f.svc.SystemID).SetName("svc" + string(rune('a'+i))).Save(f.ctx))
		in := f.request(f.dev, f.size, 100)
		in.ServiceID = svc.ID
		inputs[i] = in
	}
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { _, errs[i] = f.gov.SubmitBatch(f.ctx, alice, inputs[i], 2) })
	}
	wg.Wait()
	admitted := 0
	for _, err := range errs {
		if err == nil {
			admitted++
			continue
		}
		rateLimited(t, err, ratelimit.KindBatches)
	}
	if admitted != 3 {
		t.Fatalf("%d batches admitted, want exactly 3", admitted)
	}
	if n := f.store.Ent.TicketBatch.Query().CountX(f.ctx); n != 3 {
		t.Fatalf("%d batches stored", n)
	}
	if n := f.store.Ent.ApprovalTicket.Query().CountX(f.ctx); n != 6 {
		t.Fatalf("%d child tickets stored, want 6 (refused batches leave nothing)", n)
	}
}

func TestBatchCooldownItemsAndExemption(t *testing.T) {
	f := newFixture(t)
	now := f.limited(ratelimit.Limits{UserPendingBatches: 10, UserPendingBatchItems: 5, BatchCooldown: 2 * time.Minute, PendingBatches: 100})
	alice := f.who(f.alice)
	in := func(disk int) RequestInput {
		svc := must(f.store.Ent.Service.Create().SetSystemID(f.svc.SystemID).SetName("s" + time.Now().Format("150405.000000")).Save(f.ctx))
		r := f.request(f.dev, f.size, disk)
		r.ServiceID = svc.ID
		return r
	}
	if _, err := f.gov.SubmitBatch(f.ctx, alice, in(100), 3); err != nil {
		t.Fatal(err)
	}
	de := rateLimited(t, func() error { _, err := f.gov.SubmitBatch(f.ctx, alice, in(100), 2); return err }(), ratelimit.KindBatchCooling)
	if ra, _ := de.Params["retry_after"].(int); ra < 110 || ra > 120 {
		t.Fatalf("retry_after %v, want about 120 s", de.Params["retry_after"])
	}
	*now = now.Add(3 * time.Minute) // the batch rows carry the real clock, a moment after the limiter's
	// 3 waiting + 3 more would exceed 5 items.
	rateLimited(t, func() error { _, err := f.gov.SubmitBatch(f.ctx, alice, in(100), 3); return err }(), ratelimit.KindBatchItems)
	if _, err := f.gov.SubmitBatch(f.ctx, alice, in(100), 2); err != nil {
		t.Fatalf("2 more fit: %v", err)
	}
	// An exempt user is not held back.
	must(f.store.Ent.RateLimitUserLimit.Create().SetID(f.alice.ID).SetExempt(true).SetReason("test").SetUpdatedAt(time.Now()).Save(f.ctx))
	if _, err := f.gov.SubmitBatch(f.ctx, alice, in(100), 4); err != nil {
		t.Fatalf("exempt: %v", err)
	}
	if n := f.store.Ent.TicketBatch.Query().Where(ticketbatch.RequesterID(f.alice.ID)).CountX(f.ctx); n != 3 {
		t.Fatalf("%d batches", n)
	}
}
