package oktaemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// OktaScopes are the okta.* scopes a service app can be granted and then
// request from the org authorization server (the scopes of Okta's
// management spec for the endpoints the emulator serves).
var OktaScopes = []string{
	"okta.apps.read", "okta.apps.manage",
	"okta.appGrants.read", "okta.appGrants.manage",
	"okta.authorizationServers.read", "okta.authorizationServers.manage",
}

// scopeGrant is an app's consent grant for an okta.* scope (the spec's
// OAuth2ScopeConsentGrant). Grants live in the state next to the apps.
type scopeGrant struct {
	ID          string    `json:"id"`
	AppID       string    `json:"appId"`
	ClientID    string    `json:"clientId"`
	ScopeID     string    `json:"scopeId"`
	Issuer      string    `json:"issuer"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`
}

type grantIn struct {
	ScopeID *string `json:"scopeId"`
	Issuer  *string `json:"issuer"`
}

type grantActor struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type grantOut struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Created     string         `json:"created"`
	CreatedBy   grantActor     `json:"createdBy"`
	LastUpdated string         `json:"lastUpdated"`
	Issuer      string         `json:"issuer"`
	ClientID    string         `json:"clientId"`
	ScopeID     string         `json:"scopeId"`
	Source      string         `json:"source"`
	Embedded    map[string]any `json:"_embedded"`
	Links       map[string]any `json:"_links"`
}

func (g *scopeGrant) render(base string) grantOut {
	appURL := base + "/api/v1/apps/" + g.AppID
	return grantOut{
		ID: g.ID, Status: g.Status, Created: oktaTime(g.Created), LastUpdated: oktaTime(g.LastUpdated),
		// The API token acts for an admin user; the emulator has one.
		CreatedBy: grantActor{ID: "00uemulatoradmin00000", Type: "User"},
		Issuer:    g.Issuer, ClientID: g.ClientID, ScopeID: g.ScopeID, Source: "ADMIN",
		Embedded: map[string]any{"scope": map[string]any{"id": g.ScopeID}},
		Links: map[string]any{
			"app":    map[string]any{"href": appURL},
			"self":   map[string]any{"href": appURL + "/grants/" + g.ID, "hints": map[string]any{"allow": []string{"GET", "DELETE"}}},
			"client": map[string]any{"href": base + "/oauth2/v1/clients/" + g.ClientID},
		},
	}
}

func oktaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// grantsOf returns the app's grants; the caller holds s.mu.
func (st *state) grantsOf(appID string) []*scopeGrant {
	var out []*scopeGrant
	for _, g := range st.Grants {
		if g.AppID == appID {
			out = append(out, g)
		}
	}
	return out
}

// grantedScopes returns the okta.* scopes granted to clientID by issuer;
// the caller holds s.mu.
func (st *state) grantedScopes(clientID, issuer string) []string {
	a := st.appsByClientID[clientID]
	if a == nil {
		return nil
	}
	var out []string
	for _, g := range st.grantsOf(a.ID) {
		if g.Status == statusActive && g.Issuer == issuer {
			out = append(out, g.ScopeID)
		}
	}
	return out
}

// listGrants serves GET /api/v1/apps/{appId}/grants (spec:
// listScopeConsentGrants).
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupApp, func(a *app, base string) []grantOut {
		out := []grantOut{}
		for _, g := range s.st.grantsOf(a.ID) {
			out = append(out, g.render(base))
		}
		return out
	})
}

// createGrant serves POST /api/v1/apps/{appId}/grants (spec:
// grantConsentToScope): {scopeId, issuer} → 201 with the grant. The issuer
// must be the org's (the org authorization server's issuer is the org
// URL); the scope one of OktaScopes. Granting a scope granted already
// answers the existing grant.
func (s *Server) createGrant(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.appExists(w, p[0]) {
		return
	}
	var in grantIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	base := s.baseURL(r)
	now := s.now()
	status := http.StatusCreated
	out, ok := commit(s, w, p, s.lookupApp, func(a *app) (grantOut, *apiError) {
		scopeID, issuer := strings.TrimSpace(str(in.ScopeID)), strings.TrimRight(strings.TrimSpace(str(in.Issuer)), "/")
		switch {
		case scopeID == "":
			return grantOut{}, blankField("scopeId")
		case !slices.Contains(OktaScopes, scopeID):
			return grantOut{}, validationError("scopeId", fmt.Sprintf("scopeId: The scope '%s' doesn't exist or can't be granted.", scopeID))
		case issuer == "":
			return grantOut{}, blankField("issuer")
		case issuer != base:
			return grantOut{}, validationError("issuer", fmt.Sprintf("issuer: '%s' is not the issuer of the org authorization server.", issuer))
		}
		for _, g := range s.st.grantsOf(a.ID) {
			if g.ScopeID == scopeID && g.Issuer == issuer {
				status = http.StatusOK
				return g.render(base), nil
			}
		}
		g := &scopeGrant{ID: newID("oag", 20), AppID: a.ID, ClientID: a.ClientID, ScopeID: scopeID, Issuer: issuer,
			Status: statusActive, Created: now, LastUpdated: now}
		s.st.Grants = append(s.st.Grants, g)
		return g.render(base), nil
	})
	if ok {
		writeJSON(w, status, out)
	}
}

type grantRef struct {
	app   *app
	grant *scopeGrant
}

// lookupGrant finds grant p[1] of app p[0] or writes 404; the caller
// holds s.mu.
func (s *Server) lookupGrant(w http.ResponseWriter, p []string) (grantRef, bool) {
	a, ok := s.lookupApp(w, p)
	if !ok {
		return grantRef{}, false
	}
	for _, g := range s.st.grantsOf(a.ID) {
		if g.ID == p[1] {
			return grantRef{a, g}, true
		}
	}
	writeAPIError(w, notFound(p[1], "OAuth2ScopeConsentGrant"))
	return grantRef{}, false
}

// getGrant serves GET /api/v1/apps/{appId}/grants/{grantId} (spec:
// getScopeConsentGrant).
func (s *Server) getGrant(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupGrant, func(x grantRef, base string) grantOut { return x.grant.render(base) })
}

// deleteGrant serves DELETE /api/v1/apps/{appId}/grants/{grantId} (spec:
// revokeScopeConsentGrant): 204, and tokens asked for afterwards no longer
// get the scope.
func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupGrant, func(x grantRef) *apiError {
		s.st.Grants = slices.DeleteFunc(s.st.Grants, func(g *scopeGrant) bool { return g == x.grant })
		return nil
	})
}
