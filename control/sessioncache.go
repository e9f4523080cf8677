package control

import (
	"sync"
	"time"
)

// sessionCacheMax bounds the session cache; a full cache drops an arbitrary
// entry, which only costs one store read later.
const sessionCacheMax = 100_000

// sessionCache remembers resolved sessions so that an authenticated request
// does not open a read transaction and decode two records. The store stays
// the truth: entries are only added from a store read, and every write that
// can end a session (sign-out, account closure) invalidates the cache. A
// read that raced with such a write is not added (generation check), so a
// signed-out token can never come back from the cache.
type sessionCache struct {
	mu      sync.Mutex
	gen     uint64 // bumped by every invalidation
	entries map[string]cachedSession
}

type cachedSession struct {
	user      User
	expiresAt time.Time
}

func newSessionCache() *sessionCache {
	return &sessionCache{entries: map[string]cachedSession{}}
}

// get returns the cached session for key and the current generation, to be
// passed back to put after a store read.
func (c *sessionCache) get(key string) (cachedSession, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok, c.gen
}

// put adds a session read from the store, unless an invalidation happened
// since gen was read.
func (c *sessionCache) put(key string, gen uint64, e cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= sessionCacheMax {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// drop forgets one session (sign-out, expiry).
func (c *sessionCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, key)
}

// dropUser forgets every session of a user (account closed). It is rare, so
// a scan of the map is fine.
func (c *sessionCache) dropUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.user.ID == userID {
			delete(c.entries, k)
		}
	}
}
