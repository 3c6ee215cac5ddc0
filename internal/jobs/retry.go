package jobs

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy retries cluster jobs after Base, 2×Base, 4×Base … (±20 % jitter so a
// cluster outage does not release every job at the same instant), capped at Max.
// River's default (attempt⁴ seconds) waits too long for the first retries of a blip.
type RetryPolicy struct {
	Base, Max time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (p RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.Delay(len(job.Errors) + 1)
	return time.Now().UTC().Add(d)
}

// Delay is the wait before retry number n (1-based).
func (p RetryPolicy) Delay(n int) time.Duration {
	limit := p.Max
	if limit <= 0 {
		limit = 10 * time.Minute
	}
	d := p.Base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return max(d+jitter, time.Millisecond)
}
