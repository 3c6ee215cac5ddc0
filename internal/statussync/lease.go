package statussync

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Leases share the clusters' watchers among the Shepherd processes of one database, so
// that each cluster is watched by exactly one of them (cluster_watch_leases). Every
// renewal each process
//
//   - reads the live processes (worker_heartbeats rows younger than LiveWithin),
//   - picks, per cluster, the preferred one by rendezvous hashing of the cluster id over
//     them (clusters spread evenly; a process joining or leaving moves only its share),
//   - hands the leases another process asked for (wanted_by) over to it, when it is no
//     longer preferred for them itself,
//   - takes its preferred clusters whose lease is free or expired, and asks for those
//     another process still holds,
//   - renews whatever it holds.
//
// A lease thus always has one holder while its holder lives, and a process watches only
// clusters whose lease it holds; it stops every watcher when it could not renew for half
// the lease, so two processes never watch one cluster at once. A killed holder's
// clusters move once its heartbeat went stale (so the others prefer them) and its leases
// expired: 20 s by default (the heartbeat's dead-after and the lease), plus a renewal.
// The new holder re-lists before it watches.
type Leases struct {
	db     *sql.DB
	holder string
	// TTL is how long a renewed lease lasts. Default 20s.
	TTL time.Duration
	// LiveWithin: a process whose heartbeat is older is not offered clusters. Default 20s
	// (the heartbeat's dead-after).
	LiveWithin time.Duration
}

// NewLeases returns the leases of the process holder (its River client ID).
func NewLeases(db *sql.DB, holder string, ttl, liveWithin time.Duration) *Leases {
	if ttl <= 0 {
		ttl = 20 * time.Second
	}
	if liveWithin <= 0 {
		liveWithin = 20 * time.Second
	}
	return &Leases{db: db, holder: holder, TTL: ttl, LiveWithin: liveWithin}
}

// Holder is the process the leases are held for.
func (l *Leases) Holder() string { return l.holder }

// Claim renews and takes the leases of this process among clusters (the enabled ones)
// and returns those it holds, valid until the returned local time: the time the claim
// started plus half the TTL. Renewals come every quarter of it, so a process that cannot
// renew stops watching well before its leases expire in the database and anyone else
// may start.
func (l *Leases) Claim(ctx context.Context, clusters []uuid.UUID) (map[uuid.UUID]bool, time.Time, error) {
	start := time.Now()
	live, err := l.liveProcesses(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var mine []uuid.UUID
	for _, c := range clusters {
		if Preferred(c, live) == l.holder {
			mine = append(mine, c)
		}
	}
	ttl, me, mineArg := l.TTL.Milliseconds(), l.holder, uuidArray(mine)
	steps := []struct {
		what, sql string
		args      []any
	}{
		// Hand over what another process asked for and this one is no longer preferred for.
		{"hand over", `UPDATE cluster_watch_leases SET holder = wanted_by, wanted_by = '', acquired_at = now(),
			expires_at = now() + $3 * interval '1 millisecond'
			WHERE holder = $1 AND wanted_by NOT IN ('', $1) AND NOT (id = ANY($2::text[]::uuid[]))`,
			[]any{me, mineArg, ttl}},
		// Leases of clusters no longer enabled go.
		{"drop", `DELETE FROM cluster_watch_leases WHERE holder = $1 AND NOT (id = ANY($2::text[]::uuid[]))`,
			[]any{me, uuidArray(clusters)}},
		// Take the preferred clusters that are free or expired (a dead holder's).
		{"take", `INSERT INTO cluster_watch_leases AS l (id, holder, acquired_at, expires_at)
			SELECT c, $1, now(), now() + $3 * interval '1 millisecond' FROM unnest($2::text[]::uuid[]) AS c
			ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, wanted_by = '', acquired_at = now(), expires_at = EXCLUDED.expires_at
			WHERE l.expires_at < now() AND l.holder <> EXCLUDED.holder`,
			[]any{me, mineArg, ttl}},
		// Ask for the preferred ones another process still holds.
		{"ask", `UPDATE cluster_watch_leases SET wanted_by = $1
			WHERE holder <> $1 AND wanted_by <> $1 AND id = ANY($2::text[]::uuid[])`,
			[]any{me, mineArg}},
	}
	for _, st := range steps {
		if _, err := l.db.ExecContext(ctx, st.sql, st.args...); err != nil {
			return nil, time.Time{}, fmt.Errorf("cluster watch leases (%s): %w", st.what, err)
		}
	}
	// Renew everything this process holds: its preferred clusters and those it keeps
	// watching until their preferred process asks.
	rows, err := l.db.QueryContext(ctx, `UPDATE cluster_watch_leases SET expires_at = now() + $2 * interval '1 millisecond'
		WHERE holder = $1 RETURNING id`, l.holder, ttl)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("renew cluster watch leases: %w", err)
	}
	defer rows.Close()
	held := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, time.Time{}, err
		}
		held[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	return held, start.Add(l.TTL / 2), nil
}

// Release gives up every lease of this process (at shutdown), so the others take its
// clusters at their next renewal instead of after the TTL.
func (l *Leases) Release(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM cluster_watch_leases WHERE holder = $1`, l.holder)
	return err
}

// liveProcesses are the processes with a fresh heartbeat, this one always among them
// (its first heartbeat may not be written yet).
func (l *Leases) liveProcesses(ctx context.Context) ([]string, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id FROM worker_heartbeats WHERE beat_at > now() - $1 * interval '1 millisecond'`,
		l.LiveWithin.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("read live processes: %w", err)
	}
	defer rows.Close()
	live := []string{l.holder}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if id != l.holder {
			live = append(live, id)
		}
	}
	return live, rows.Err()
}

// Preferred is the process that should watch cluster: the highest rendezvous hash of
// the pair over the live processes ("" when none).
func Preferred(cluster uuid.UUID, live []string) string {
	best, bestScore := "", uint64(0)
	for _, p := range live {
		h := fnv.New64a()
		_, _ = h.Write(cluster[:])
		_, _ = h.Write([]byte(p))
		// fnv's low bits mix poorly for similar keys; a final avalanche spreads them.
		s := mix(h.Sum64())
		if best == "" || s > bestScore || (s == bestScore && p < best) {
			best, bestScore = p, s
		}
	}
	return best
}

// mix is the 64-bit finaliser of MurmurHash3.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// uuidArray is a text[] parameter (pgx encodes []string; the SQL casts it to uuid[]).
func uuidArray(ids []uuid.UUID) []string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	slices.Sort(s)
	return s
}
