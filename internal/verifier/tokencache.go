package verifier

import "sync"

const cacheShards = 16

// tokenCache remembers tokens that passed verification, keyed by the
// SHA-256 of the token. It is bounded: when a shard is full, expired
// entries go first, then an arbitrary one.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cacheEntry
}

type cacheEntry struct {
	id  *Identity
	key *verificationKey
	// notAfter is exp plus the clock skew, in unix seconds.
	notAfter float64
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(sum [32]byte) *cacheShard { return &c.shards[sum[0]%cacheShards] }

func (c *tokenCache) get(sum [32]byte) *cacheEntry {
	s := c.shard(sum)
	s.mu.RLock()
	e := s.m[sum]
	s.mu.RUnlock()
	return e
}

func (c *tokenCache) remove(sum [32]byte) {
	s := c.shard(sum)
	s.mu.Lock()
	delete(s.m, sum)
	s.mu.Unlock()
}

func (c *tokenCache) put(sum [32]byte, e *cacheEntry, now float64) {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.m[sum]; !exists && len(s.m) >= c.perShard {
		for k, old := range s.m {
			if now >= old.notAfter {
				delete(s.m, k)
			}
		}
		if len(s.m) >= c.perShard {
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
	}
	s.m[sum] = e
}

// len returns the number of cached tokens (for tests and metrics).
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
