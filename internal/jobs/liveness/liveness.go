// Package liveness hands the jobs of a dead Shepherd process back to the queue within
// seconds, instead of leaving them 'running' until River's rescuer reclaims them (job
// timeout + rescue delay, many minutes).
//
// River's open-source driver records which client runs a job (the last entry of
// river_job.attempted_by is the client ID of the current attempt) but keeps no liveness
// data: its producer keep-alive is a no-op and its river_client table stays empty;
// JobRetry refuses running jobs and the rescuer only looks at how long ago a job was
// attempted. So each process keeps a heartbeat row (worker_heartbeats, keyed by its
// River client ID) and every process sweeps: the running jobs of a process that is
// known dead are made available again, in one statement that also deletes its row.
//
// A process is dead when
//   - its heartbeat is older than DeadAfter, judged only by a sweeper that has itself
//     reached the database for at least DeadAfter (after a database outage every row is
//     stale, and a live replica must get the chance to beat again first), or
//   - it ran on the same kernel (boot id) and in the same pid namespace as the sweeper,
//     and its pid is gone (or is the sweeper's own pid, held by another client ID that
//     this process did not start): a restart on the same machine or pod-local process
//     namespace takes over at once.
//
// Jobs of a client with no heartbeat row (a version without this package, during a
// rolling upgrade) are never touched; River's rescuer remains the safety net for them.
package liveness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Options.
const (
	DefaultBeat      = 5 * time.Second
	DefaultDeadAfter = 20 * time.Second
)

// Options tune the monitor; zero values take the defaults.
type Options struct {
	// Beat is how often the process refreshes its row and sweeps.
	Beat time.Duration
	// DeadAfter is how old a heartbeat must be before its process counts as dead.
	DeadAfter time.Duration
}

// Monitor keeps one process's heartbeat and hands back the jobs of dead processes.
type Monitor struct {
	pool      *pgxpool.Pool
	id        string
	self      process
	beat      time.Duration
	deadAfter time.Duration
	logger    *slog.Logger

	mu sync.Mutex
	// reachableSince is when the database last became reachable for this process (zero
	// while it is not); the stale-heartbeat rule waits until it is DeadAfter old.
	reachableSince time.Time
	registered     bool

	own      ownJobs     // jobs this process works and finished lately (Middleware)
	tracking atomic.Bool // Middleware is installed: own orphans can be told apart
}

// process locates a Shepherd process on its machine.
type process struct {
	hostname, bootID, pidNS string
	pid                     int
}

// clients are the client IDs registered by this process and not retired: several apps
// in one process (tests) share a pid, and must never take each other for a previous
// instance.
var clients sync.Map

// ClientID is a River client ID unique to this process: host, pid and a random part
// (a restarted container keeps its hostname and often its pid).
func ClientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_").Replace(host)
	if host == "" {
		host = "unknown_host"
	}
	if len(host) > 60 {
		host = host[:60]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), hex.EncodeToString(b))
}

// New returns a monitor for the River client id.
func New(pool *pgxpool.Pool, id string, logger *slog.Logger, opts Options) *Monitor {
	m := &Monitor{pool: pool, id: id, logger: logger, beat: opts.Beat, deadAfter: opts.DeadAfter, self: thisProcess()}
	if m.beat <= 0 {
		m.beat = DefaultBeat
	}
	if m.deadAfter <= 0 {
		m.deadAfter = DefaultDeadAfter
	}
	return m
}

// ID is the River client ID the monitor beats for.
func (m *Monitor) ID() string { return m.id }

func thisProcess() process {
	p := process{pid: os.Getpid()}
	p.hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.bootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		p.pidNS = ns
	}
	return p
}

// Register writes the process's first heartbeat and sweeps once. It must run before
// the River client starts, so no job of this process is ever without a live row.
func (m *Monitor) Register(ctx context.Context) error {
	clients.Store(m.id, true)
	if err := m.Beat(ctx); err != nil {
		clients.Delete(m.id)
		return fmt.Errorf("worker heartbeat: %w", err)
	}
	if _, err := m.Sweep(ctx); err != nil {
		m.logger.Warn("handing back jobs of dead workers", "err", err)
	}
	return nil
}

// Run beats and sweeps every Beat until ctx ends. Keep it running until the River client
// has stopped: a process that stops beating while its jobs run gives them away.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.Beat(ctx); err != nil {
			if ctx.Err() == nil {
				m.logger.Warn("worker heartbeat failed", "client", m.id, "err", err)
			}
			continue
		}
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("handing back jobs of dead workers", "err", err)
		}
	}
}

// Beat refreshes the heartbeat row (recreating it if a sweeper took this process for
// dead, which it says loudly: its running jobs may have been handed to another process).
func (m *Monitor) Beat(ctx context.Context) error {
	// A beat may take up to half the dead period (a slow database is not a dead process);
	// longer, and others could take this process for dead while it waits.
	ctx, cancel := context.WithTimeout(ctx, max(m.beat, m.deadAfter/2))
	defer cancel()
	var inserted bool
	err := m.pool.QueryRow(ctx, `INSERT INTO worker_heartbeats (id, hostname, boot_id, pid_namespace, pid, started_at, beat_at)
		VALUES ($1, $2, $3, $4, $5, now(), now())
		ON CONFLICT (id) DO UPDATE SET beat_at = now()
		RETURNING xmax = 0`, m.id, m.self.hostname, m.self.bootID, m.self.pidNS, m.self.pid).Scan(&inserted)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.reachableSince = time.Time{}
		return err
	}
	if m.reachableSince.IsZero() {
		m.reachableSince = time.Now()
	}
	if inserted && m.registered {
		m.logger.Error("this process's heartbeat had been removed: another process took it for dead and may have taken over its running jobs",
			"client", m.id, "dead_after", m.deadAfter)
	}
	m.registered = true
	return nil
}

// HandedBack is a job made available again (or finalized, like River's rescuer does
// when no attempt is left or a cancel was requested).
type HandedBack struct {
	JobID  int64
	Kind   string
	State  string
	Client string
}

// Sweep hands back the running jobs of dead processes and deletes their rows.
func (m *Monitor) Sweep(ctx context.Context) ([]HandedBack, error) {
	gone, err := m.goneNeighbours(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	staleRule := !m.reachableSince.IsZero() && time.Since(m.reachableSince) >= m.deadAfter
	m.mu.Unlock()
	out, err := m.handBack(ctx, gone, staleRule)
	if err != nil {
		return out, err
	}
	own, err := m.reclaimOwn(ctx)
	return append(out, own...), err
}

// Retire hands back whatever this process still runs and deletes its row; call it once
// the River client has stopped (jobs it could not finish in the shutdown grace time are
// then someone else's at once).
func (m *Monitor) Retire(ctx context.Context) error {
	defer clients.Delete(m.id)
	jobs, err := m.handBack(ctx, []string{m.id}, false)
	if len(jobs) > 0 {
		m.logger.Warn("handed back jobs that did not finish before shutdown", "jobs", len(jobs))
	}
	return err
}

// goneNeighbours lists the clients on this kernel and pid namespace whose process is
// gone. A pid reused by an unrelated process only delays the takeover to DeadAfter.
func (m *Monitor) goneNeighbours(ctx context.Context) ([]string, error) {
	if m.self.bootID == "" || m.self.pidNS == "" {
		return nil, nil
	}
	rows, err := m.pool.Query(ctx, `SELECT id, pid FROM worker_heartbeats
		WHERE id <> $1 AND boot_id = $2 AND pid_namespace = $3`, m.id, m.self.bootID, m.self.pidNS)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gone []string
	for rows.Next() {
		var id string
		var pid int
		if err := rows.Scan(&id, &pid); err != nil {
			return nil, err
		}
		if _, ours := clients.Load(id); ours {
			continue
		}
		if pid == m.self.pid || (pid > 0 && !alive(pid)) {
			gone = append(gone, id)
		}
	}
	return gone, rows.Err()
}

// alive reports whether a process with pid exists in this pid namespace.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// handBackSQL deletes the rows of dead clients (named, or stale when $3) and, in the same
// statement, hands back the jobs still 'running' under their client ID. Only rows that
// this statement deleted count: of two concurrent sweepers one wins each row, and a row
// refreshed meanwhile is re-checked by PostgreSQL and left alone. The new state follows
// River's rescuer: cancelled when a cancel was requested, discarded when no attempt is
// left, otherwise available now (the attempt is not counted again; it is in errors).
var handBackSQL = `
WITH dead AS (
	DELETE FROM worker_heartbeats
	WHERE id = ANY($2::text[])
	   OR ($3::boolean AND id <> $1 AND beat_at < now() - make_interval(secs => $4::float8))
	RETURNING id
), handed AS (
	UPDATE river_job AS j SET
		` + handBackSet(`'worker ' || dead.id || ' is gone (no heartbeat); job handed back'`) + `
	FROM dead
	WHERE j.state = 'running' AND j.attempted_by[cardinality(j.attempted_by)] = dead.id
	RETURNING j.id, j.kind, j.state::text, dead.id AS client
)
SELECT id, kind, state, client FROM handed
UNION ALL
SELECT 0, '', 'row deleted', id FROM dead`

// handBackSet is the SET list of a hand-back of river_job AS j, recording errorSQL (an
// SQL text expression) as the attempt's error.
func handBackSet(errorSQL string) string {
	return `state = CASE
			WHEN j.metadata ? 'cancel_attempted_at' THEN 'cancelled'
			WHEN j.attempt < j.max_attempts THEN 'available'
			ELSE 'discarded' END::river_job_state,
		finalized_at = CASE WHEN j.metadata ? 'cancel_attempted_at' OR j.attempt >= j.max_attempts THEN now() END,
		scheduled_at = CASE WHEN j.metadata ? 'cancel_attempted_at' OR j.attempt >= j.max_attempts THEN j.scheduled_at ELSE now() END,
		errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', greatest(j.attempt, 0),
			'error', ` + errorSQL + `, 'trace', '')),
		metadata = j.metadata || jsonb_build_object('shepherd:handed_back_count',
			coalesce((j.metadata ->> 'shepherd:handed_back_count')::int, 0) + 1)`
}

func (m *Monitor) handBack(ctx context.Context, gone []string, staleRule bool) ([]HandedBack, error) {
	if len(gone) == 0 && !staleRule {
		return nil, nil
	}
	if gone == nil {
		gone = []string{}
	}
	rows, err := m.pool.Query(ctx, handBackSQL, m.id, gone, staleRule, m.deadAfter.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HandedBack
	var deleted []string
	for rows.Next() {
		var h HandedBack
		if err := rows.Scan(&h.JobID, &h.Kind, &h.State, &h.Client); err != nil {
			return nil, err
		}
		if h.JobID == 0 {
			if h.Client != m.id {
				deleted = append(deleted, h.Client)
			}
			continue
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, h := range out {
		m.logger.Warn("job of a dead worker handed back", "job", h.JobID, "kind", h.Kind, "state", h.State, "worker", h.Client)
	}
	if len(deleted) > 0 {
		m.logger.Info("removed heartbeats of dead workers", "workers", deleted, "jobs_handed_back", len(out))
	}
	return out, nil
}
