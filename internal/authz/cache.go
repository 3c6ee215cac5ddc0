package authz

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
)

// Cache keeps resolved principals per process, so a request needs the user's row (which it
// reads anyway) instead of six queries to know who is asking. An entry is used only while
// the row's authz_version is the one it was built at: triggers bump that version in the
// transaction that changes a binding, membership, role or System, so a revocation takes
// effect on the next request, on every replica. Principals are immutable once built.
type Cache struct {
	mu      sync.Mutex
	max     int
	entries map[uuid.UUID]cached
	hits    atomic.Int64
	misses  atomic.Int64
}

type cached struct {
	version  int64
	username string
	p        *Principal
}

// NewCache keeps at most max principals (any one is dropped when full).
func NewCache(max int) *Cache {
	return &Cache{max: max, entries: make(map[uuid.UUID]cached, max)}
}

// Principal returns u's principal, loading it when the cache has none for u's version.
func (c *Cache) Principal(ctx context.Context, client *ent.Client, u *ent.User) (*Principal, error) {
	if c == nil {
		return Load(ctx, client, u.ID, u.Username)
	}
	c.mu.Lock()
	e, ok := c.entries[u.ID]
	c.mu.Unlock()
	if ok && e.version == u.AuthzVersion && e.username == u.Username {
		c.hits.Add(1)
		return e.p, nil
	}
	c.misses.Add(1)
	p, err := Load(ctx, client, u.ID, u.Username)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[u.ID] = cached{version: u.AuthzVersion, username: u.Username, p: p}
	c.mu.Unlock()
	return p, nil
}

// Stats reports cache hits and misses since start.
func (c *Cache) Stats() (hits, misses int64) { return c.hits.Load(), c.misses.Load() }
