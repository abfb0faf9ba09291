package verifier

import (
	"math"
	"sync"
)

const cacheShards = 16

// sweepInterval is the least time, in seconds, between two sweeps of one
// shard for expired entries.
const sweepInterval = 1.0

// tokenCache remembers tokens that passed verification, keyed by the
// SHA-256 of the token. It is bounded: when a shard is full, an insert
// first sweeps out expired entries — if any can have expired, and at most
// once per sweepInterval — and otherwise evicts an arbitrary entry. An
// expired entry left behind is never served: get's caller checks the
// expiry.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
	// minNotAfter is at most the smallest notAfter in m: before it, no
	// entry has expired and a sweep would find nothing.
	minNotAfter float64
	// nextSweep is when the next sweep may run.
	nextSweep float64
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
		c.shards[i].m = make(map[[32]byte]cacheEntry)
		c.shards[i].minNotAfter = math.Inf(1)
	}
	return c
}

func (c *tokenCache) shard(sum [32]byte) *cacheShard { return &c.shards[sum[0]%cacheShards] }

func (c *tokenCache) get(sum [32]byte) (cacheEntry, bool) {
	s := c.shard(sum)
	s.mu.RLock()
	e, ok := s.m[sum]
	s.mu.RUnlock()
	return e, ok
}

func (c *tokenCache) remove(sum [32]byte) {
	s := c.shard(sum)
	s.mu.Lock()
	delete(s.m, sum)
	s.mu.Unlock()
}

func (c *tokenCache) put(sum [32]byte, e cacheEntry, now float64) {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.m[sum]; !exists && len(s.m) >= c.perShard {
		if now >= s.minNotAfter && now >= s.nextSweep {
			s.sweep(now)
		}
		if len(s.m) >= c.perShard {
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
	}
	s.m[sum] = e
	s.minNotAfter = min(s.minNotAfter, e.notAfter)
}

// sweep deletes the expired entries and recomputes minNotAfter.
func (s *cacheShard) sweep(now float64) {
	least := math.Inf(1)
	for k, e := range s.m {
		if now >= e.notAfter {
			delete(s.m, k)
		} else {
			least = min(least, e.notAfter)
		}
	}
	s.minNotAfter = least
	s.nextSweep = now + sweepInterval
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

// capacity returns the number of entries c holds at most.
func (c *tokenCache) capacity() int { return c.perShard * cacheShards }
