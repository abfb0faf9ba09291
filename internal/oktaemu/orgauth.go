package oktaemu

import "net/http"

// identifyOAuth authenticates a management request made with an access
// token of the org authorization server.
func (s *Server) identifyOAuth(r *http.Request) principal {
	return principal{}
}
