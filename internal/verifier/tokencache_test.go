package verifier

import "testing"

// TestTokenCacheEviction drives one shard of a small cache through the
// cases of put: room left, full with expired entries (swept), full with
// none expired (one evicted, no sweep), and full again before the sweep
// interval has passed (one evicted; expired entries wait for the next
// sweep, and get's caller never serves them).
func TestTokenCacheEviction(t *testing.T) {
	const perShard = 4
	// Every key lands in shard 0; the second byte tells them apart.
	key := func(n byte) [32]byte { return [32]byte{0: cacheShards, 1: n} }
	entry := func(notAfter float64) cacheEntry { return cacheEntry{id: &Identity{}, notAfter: notAfter} }
	count := func(c *tokenCache, now float64) (live, expired int) {
		for _, e := range c.shards[0].m {
			if now < e.notAfter {
				live++
			} else {
				expired++
			}
		}
		return live, expired
	}

	type put struct {
		key      byte
		notAfter float64
		now      float64
	}
	cases := []struct {
		name        string
		puts        []put
		now         float64
		wantLive    int
		wantExpired int
	}{
		{
			name:     "room left",
			puts:     []put{{1, 100, 10}, {2, 100, 10}},
			now:      10,
			wantLive: 2,
		},
		{
			name: "full of expired entries: the insert sweeps them",
			puts: []put{{1, 100, 10}, {2, 100, 10}, {3, 100, 10}, {4, 100, 10},
				{5, 1000, 200}},
			now:      200,
			wantLive: 1,
		},
		{
			name: "full and nothing expired: one entry goes",
			puts: []put{{1, 1000, 10}, {2, 1000, 10}, {3, 1000, 10}, {4, 1000, 10},
				{5, 1000, 20}, {6, 1000, 20}},
			now:      20,
			wantLive: perShard,
		},
		{
			name: "replacing a cached token evicts nothing",
			puts: []put{{1, 1000, 10}, {2, 1000, 10}, {3, 1000, 10}, {4, 1000, 10},
				{4, 1000, 20}},
			now:      20,
			wantLive: perShard,
		},
		{
			// The sweep at 200 removes the first four; by 200.5 the four
			// added since have expired, but the next sweep may only run
			// from 201 on: the insert at 200.5 evicts one entry instead.
			name: "sweeps at most once per interval",
			puts: []put{{1, 100, 10}, {2, 100, 10}, {3, 100, 10}, {4, 100, 10},
				{5, 200.2, 200}, {6, 200.2, 200.1}, {7, 200.2, 200.1}, {8, 200.2, 200.1},
				{9, 1000, 200.5}},
			now:         200.5,
			wantLive:    1,
			wantExpired: 3,
		},
		{
			name: "the next interval sweeps again",
			puts: []put{{1, 100, 10}, {2, 100, 10}, {3, 100, 10}, {4, 100, 10},
				{5, 200.2, 200}, {6, 200.2, 200.1}, {7, 200.2, 200.1}, {8, 200.2, 200.1},
				{9, 1000, 200.5}, {10, 1000, 201.5}},
			now:      201.5,
			wantLive: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(perShard * cacheShards)
			for _, p := range tc.puts {
				c.put(key(p.key), entry(p.notAfter), p.now)
				if n := len(c.shards[0].m); n > perShard {
					t.Fatalf("shard holds %d entries, bound %d", n, perShard)
				}
			}
			live, expired := count(c, tc.now)
			if live != tc.wantLive || expired != tc.wantExpired {
				t.Fatalf("shard holds %d live and %d expired entries, want %d and %d", live, expired, tc.wantLive, tc.wantExpired)
			}
			if _, ok := c.get(key(tc.puts[len(tc.puts)-1].key)); !ok {
				t.Fatal("the entry just put is not cached")
			}
		})
	}
}
