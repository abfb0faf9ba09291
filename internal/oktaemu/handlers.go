package oktaemu

import (
	"net/http"
	"time"
)

// Most management handlers have the same frame: take s.mu, look up what
// the path names (answering 404 when something is missing), read or change
// it, release the lock, persist a change, and answer. The helpers below
// hold that frame once; each handler keeps what is its own: validation,
// error codes, what it changes and its status code.
//
// Bodies are always read with s.mu released, so a handler that reads one
// checks its target with present (or an xxxExists helper) first, reads
// the body, and only then commits, which looks the target up again.

// lookup finds what a route's path parameters p name. When something is
// missing it writes the 404 itself and reports false. The caller holds
// s.mu.
type lookup[R any] func(w http.ResponseWriter, p []string) (R, bool)

// serveRead answers a read: under s.mu it looks the target up and renders
// it for the org's base URL; the result goes out as 200 JSON after the
// lock is released.
func serveRead[R, T any](s *Server, w http.ResponseWriter, r *http.Request, p []string, find lookup[R], render func(R, string) T) {
	s.mu.Lock()
	ref, ok := find(w, p)
	if !ok {
		s.mu.Unlock()
		return
	}
	out := render(ref, s.baseURL(r))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// present reports whether the target exists, answering 404 when it does
// not. It holds s.mu only for the look-up, so a handler can check its
// target before it reads the request body.
func present[R any](s *Server, w http.ResponseWriter, p []string, find lookup[R]) bool {
	s.mu.Lock()
	_, ok := find(w, p)
	s.mu.Unlock()
	return ok
}

// commit looks the target up and applies change to it, both under s.mu.
// A change that fails returns an API error, which is answered, and must
// leave the state as it was. A change that succeeds bumps the version and
// is persisted once the lock is released; commit then returns its result
// and true, and the caller answers.
func commit[R, T any](s *Server, w http.ResponseWriter, p []string, find lookup[R], change func(R) (T, *apiError)) (T, bool) {
	s.mu.Lock()
	ref, ok := find(w, p)
	if !ok {
		s.mu.Unlock()
		var zero T
		return zero, false
	}
	out, aerr := change(ref)
	if aerr != nil {
		s.mu.Unlock()
		writeAPIError(w, aerr)
		return out, false
	}
	s.bump()
	s.mu.Unlock()
	s.changed()
	return out, true
}

// serveChange commits change and answers with its result as JSON with the
// given status.
func serveChange[R, T any](s *Server, w http.ResponseWriter, p []string, status int, find lookup[R], change func(R) (T, *apiError)) {
	if out, ok := commit(s, w, p, find, change); ok {
		writeJSON(w, status, out)
	}
}

// serveDelete commits remove and answers 204.
func serveDelete[R any](s *Server, w http.ResponseWriter, p []string, find lookup[R], remove func(R) *apiError) {
	_, ok := commit(s, w, p, find, func(ref R) (struct{}, *apiError) { return struct{}{}, remove(ref) })
	if ok {
		w.WriteHeader(http.StatusNoContent)
	}
}

// lifecycled is an object with Okta's ACTIVE/INACTIVE lifecycle;
// lifecycle tells where it keeps its status and last-update time.
type lifecycled interface {
	lifecycle() (status *string, lastUpdated *time.Time)
}

// setStatus moves the target to status under s.mu and reports whether it
// was found; the caller answers. Only a real change reads the clock, bumps
// the version and persists: activating an active object succeeds and
// changes nothing.
func setStatus[R lifecycled](s *Server, w http.ResponseWriter, p []string, find lookup[R], status string) bool {
	s.mu.Lock()
	ref, ok := find(w, p)
	if !ok {
		s.mu.Unlock()
		return false
	}
	cur, lastUpdated := ref.lifecycle()
	changed := *cur != status
	if changed {
		*cur, *lastUpdated = status, s.now()
		s.bump()
	}
	s.mu.Unlock()
	if changed {
		s.changed()
	}
	return true
}
