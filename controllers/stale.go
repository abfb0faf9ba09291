package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// staleCacheWait is how long a reconcile that read a superseded version waits for the
// cache to catch up.
const staleCacheWait = 200 * time.Millisecond

// staleVersions remembers, per object, the resource versions replaced by this controller's
// own writes until the cache shows the newest one. Resource versions are compared for
// equality only, as the API conventions ask.
type staleVersions struct {
	mu     sync.Mutex
	byID   map[types.UID]*versionTrail
	writes int
}

type versionTrail struct {
	latest string
	old    map[string]bool
	since  time.Time
}

// maxCacheLag bounds how long a version is taken for stale: a cache that lags longer is
// broken in some other way, and waiting would stop the object for good.
const maxCacheLag = 10 * time.Second

// wrote records that obj now has a new resource version, replacing before.
func (s *staleVersions) wrote(obj client.Object, before string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[types.UID]*versionTrail{}
	}
	// A trail is only consulted by the object's next reconcile; one that nobody consulted
	// within maxCacheLag is useless. Sweep them now and then so a steady fleet keeps none.
	if s.writes++; s.writes%1024 == 0 {
		for uid, t := range s.byID {
			if time.Since(t.since) > maxCacheLag {
				delete(s.byID, uid)
			}
		}
	}
	t := s.byID[obj.GetUID()]
	if t == nil {
		t = &versionTrail{old: map[string]bool{}}
		s.byID[obj.GetUID()] = t
	}
	t.old[before] = true
	t.latest = obj.GetResourceVersion()
	t.since = time.Now()
}

// isStale reports whether obj is a version this controller has already replaced; once
// the cache shows the latest write, the trail is dropped.
func (s *staleVersions) isStale(obj client.Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byID[obj.GetUID()]
	if t == nil {
		return false
	}
	if t.old[obj.GetResourceVersion()] && time.Since(t.since) < maxCacheLag {
		return true
	}
	delete(s.byID, obj.GetUID())
	return false
}

func (s *staleVersions) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, uid)
}
