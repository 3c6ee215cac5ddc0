package kubevirt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
)

// breaker is the per-cluster circuit breaker of spec §8.4: after `limit`
// consecutive failures that say the cluster cannot be reached (timeouts, 5xx,
// connection errors) it fails calls fast for `cooldown`, then lets one call through
// to probe. Answers such as Forbidden or NotFound prove the API server is up and
// close it again.
type breaker struct {
	limit    int
	cooldown time.Duration
	now      func() time.Time

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	probing   bool
}

func newBreaker(limit int, cooldown time.Duration) *breaker {
	return &breaker{limit: limit, cooldown: cooldown, now: time.Now}
}

// allow returns an error while the breaker is open; after the cooldown exactly one
// caller at a time is let through as a probe.
func (b *breaker) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.limit {
		return nil
	}
	now := b.now()
	if now.Before(b.openUntil) || b.probing {
		wait := max(b.openUntil.Sub(now), 0).Round(time.Second)
		return kube.NewRetryable(kube.CodeClusterUnhealthy,
			fmt.Sprintf("cluster calls paused after %d consecutive failures; next attempt in %s", b.failures, wait))
	}
	b.probing = true
	return nil
}

// record counts a call's outcome.
func (b *breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !unreachable(err) {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.limit {
		b.openUntil = b.now().Add(b.cooldown)
	}
}

// unreachable: the failure says nothing answered (or the server is failing), as
// opposed to an answer the caller did not like.
func unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	ke := kube.Classify(err)
	if ke.Kind != kube.Retryable {
		return false
	}
	switch ke.Code {
	case kube.CodeConflict, kube.CodeResourceExpired, kube.CodeRateLimited:
		return false
	}
	return true
}
