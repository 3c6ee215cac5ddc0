package liveness

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Own jobs orphaned by a database outage. While PostgreSQL is away, River's completer
// cannot record the outcome of jobs this process finished; after a few tries it gives up
// ("Too many errors; giving up"), and those jobs stay 'running' under this live client:
// no sweep of dead processes touches them, and River's rescuer waits its full delay.
// The monitor therefore tracks, through a worker middleware, which jobs this process is
// working right now and which it finished lately; a job still 'running' under this
// client that it neither works nor finished within OwnGrace (plenty of time for the
// completer) is handed back like a dead process's job. The jobs are idempotent: a run
// that finds its ticket already final just finishes.

// OwnGrace is how long after a job's start, and after its end, a 'running' row of this
// process is left to River before it counts as orphaned.
const OwnGrace = 30 * time.Second

type ownJobs struct {
	mu       sync.Mutex
	active   map[int64]bool
	finished map[int64]time.Time
}

func (o *ownJobs) start(id int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active == nil {
		o.active, o.finished = map[int64]bool{}, map[int64]time.Time{}
	}
	o.active[id] = true
}

func (o *ownJobs) end(id int64, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.active, id)
	o.finished[id] = now
	for k, at := range o.finished {
		if now.Sub(at) > 2*OwnGrace {
			delete(o.finished, k)
		}
	}
}

// orphaned keeps the ids this process neither works nor finished within OwnGrace.
func (o *ownJobs) orphaned(ids []int64, now time.Time) []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int64
	for _, id := range ids {
		if o.active[id] {
			continue
		}
		if at, ok := o.finished[id]; ok && now.Sub(at) < OwnGrace {
			continue
		}
		out = append(out, id)
	}
	return out
}

// Middleware records the jobs this process works; install it in the River client's
// Config.Middleware.
func (m *Monitor) Middleware() rivertype.Middleware {
	m.tracking.Store(true)
	return &trackJobs{m: m}
}

type trackJobs struct {
	river.WorkerMiddlewareDefaults
	m *Monitor
}

func (t *trackJobs) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	t.m.own.start(job.ID)
	defer t.m.own.end(job.ID, time.Now())
	return doInner(ctx)
}

// ownCandidatesSQL lists this client's 'running' jobs attempted more than OwnGrace ago.
const ownCandidatesSQL = `SELECT id FROM river_job
	WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = $1
	  AND attempted_at < now() - make_interval(secs => $2::float8)`

// handBackOwnSQL hands back the listed jobs if they are still 'running' under this
// client, with the same outcome rules as a dead process's jobs.
var handBackOwnSQL = `
UPDATE river_job AS j SET
	` + handBackSet(`'the outcome of this attempt was never recorded (database unreachable); job handed back'`) + `
WHERE j.id = ANY($2::bigint[]) AND j.state = 'running' AND j.attempted_by[cardinality(j.attempted_by)] = $1
RETURNING j.id, j.kind, j.state::text`

// reclaimOwn hands back this process's orphaned jobs (see OwnGrace).
func (m *Monitor) reclaimOwn(ctx context.Context) ([]HandedBack, error) {
	if !m.tracking.Load() {
		return nil, nil // without the middleware every running job would look orphaned
	}
	rows, err := m.pool.Query(ctx, ownCandidatesSQL, m.id, OwnGrace.Seconds())
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids = m.own.orphaned(ids, time.Now())
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err = m.pool.Query(ctx, handBackOwnSQL, m.id, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HandedBack
	for rows.Next() {
		h := HandedBack{Client: m.id}
		if err := rows.Scan(&h.JobID, &h.Kind, &h.State); err != nil {
			return nil, err
		}
		out = append(out, h)
		m.logger.Warn("job whose outcome was never recorded handed back", "job", h.JobID, "kind", h.Kind, "state", h.State)
	}
	return out, rows.Err()
}
