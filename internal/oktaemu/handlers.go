package oktaemu

import "net/http"

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
