package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// defaultMemoryEntries bounds clientMemory: far above the fleets the manager is measured
// with (5,000 clients), at about 200 bytes an entry.
const defaultMemoryEntries = 50_000

// clientMemory is what the OAuthClient reconciler remembers of each client between
// reconciles, by UID. It is a cache, not a record: an empty one (a restarted manager, an
// entry evicted at the bound) is always correct, and what its loss costs is known:
//
//   - lastRead, when the app was last compared with the backend: without it the app is
//     read once more now instead of at the next resync.
//   - refused, the token endpoint refused the published credentials: without it the
//     next reconcile keeps them, asks for a token once more, is refused again and marks them.
//   - denial, the backoff of a client the access policies deny: without it the next
//     token request is made now and the backoff starts again at its first step.
//
// What must survive a restart (the app, the published secret's id, a pending create, a
// retirement time) is in status. Entries go when their client is deleted; when maxEntries
// are held, a new client evicts an arbitrary one.
type clientMemory struct {
	mu sync.Mutex
	// maxEntries is the bound; defaultMemoryEntries when 0.
	maxEntries int
	byUID      map[types.UID]*memo
}

// memo is what clientMemory holds of one client.
type memo struct {
	lastRead time.Time
	// grants are the grants (grants.key) the app was last compared with the backend for.
	grants  string
	refused bool
	denial  *denial
}

// denial is the state of a client the access policies deny.
type denial struct {
	// n is how many denials in a row.
	n int
	// key is what the next token request waits for a change of (denialKey).
	key string
	// until is the end of the current wait.
	until time.Time
}

// entry returns the memo of uid, creating it (and evicting one if full) when create is set;
// nil otherwise. The caller holds mu.
func (m *clientMemory) entry(uid types.UID, create bool) *memo {
	if e := m.byUID[uid]; e != nil || !create {
		return e
	}
	if m.byUID == nil {
		m.byUID = map[types.UID]*memo{}
	}
	limit := m.maxEntries
	if limit <= 0 {
		limit = defaultMemoryEntries
	}
	for k := range m.byUID {
		if len(m.byUID) < limit {
			break
		}
		delete(m.byUID, k)
	}
	e := &memo{}
	m.byUID[uid] = e
	return e
}

// synced records that the client's app was compared with the backend at t.
func (m *clientMemory) synced(uid types.UID, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entry(uid, true).lastRead = t
}

// syncedGrants records the grants the app was compared with the backend for.
func (m *clientMemory) syncedGrants(uid types.UID, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entry(uid, true).grants = key
}

// grantsChanged reports whether the client's grants changed since its app was last
// compared with the backend (an OAuthAPI changed, not the client). Unknown: false, as an
// app never compared is compared anyway (syncDue).
func (m *clientMemory) grantsChanged(uid types.UID, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(uid, false)
	return e != nil && !e.lastRead.IsZero() && e.grants != key
}

// lastSynced returns when the client's app was last compared with the backend, if known.
func (m *clientMemory) lastSynced(uid types.UID) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(uid, false)
	if e == nil || e.lastRead.IsZero() {
		return time.Time{}, false
	}
	return e.lastRead, true
}

// markRefused records that the token endpoint refused the published credentials.
func (m *clientMemory) markRefused(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entry(uid, true).refused = true
}

// refused reports whether the token endpoint refused the published credentials.
func (m *clientMemory) refused(uid types.UID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(uid, false)
	return e != nil && e.refused
}

// accepted records that the token endpoint gave a token: the credentials work and no
// denial holds.
func (m *clientMemory) accepted(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entry(uid, false); e != nil {
		e.refused, e.denial = false, nil
	}
}

// denied records a denial by the access policies and returns how long to wait before the
// next token request: accessDeniedMinBackoff, doubling, at most accessDeniedMaxBackoff.
func (m *clientMemory) denied(uid types.UID, key string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(uid, true)
	if e.denial == nil {
		e.denial = &denial{}
	}
	d := e.denial
	wait := accessDeniedMinBackoff
	for i := 0; i < d.n && wait < accessDeniedMaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, accessDeniedMaxBackoff)
	d.n++
	d.key, d.until = key, now.Add(wait)
	return wait
}

// holdingDenial reports whether the client waits out a denial, and for how long still.
func (m *clientMemory) holdingDenial(uid types.UID, key string, now time.Time) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(uid, false)
	if e == nil || e.denial == nil || e.denial.key != key || !now.Before(e.denial.until) {
		return 0, false
	}
	return e.denial.until.Sub(now), true
}

// forget drops everything remembered of a client (it is gone).
func (m *clientMemory) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byUID, uid)
}

// size is how many clients are remembered.
func (m *clientMemory) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byUID)
}
